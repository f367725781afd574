"""The CLIP tokenizer is transformers' CLIPTokenizer from the vocabulary open_clip_torch ships:
ids identical to the hand-written tokenizer it replaced (recorded before the change, in
fixtures/clip_token_ids.json: every instruction of every task plus odd inputs), and equal to
the reference tokenizer (open_clip's, with ftfy) on non-ASCII text."""
import importlib.util
import json
import socket
from pathlib import Path

import pytest

from mn_models.recognizer import tokenizer as T

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "clip_token_ids.json")
                     .read_text(encoding="utf-8"))
CASES = FIXTURE["cases"]


@pytest.fixture(scope="module")
def tok():
    return T.get_tokenizer(FIXTURE["context_length"])


def _expected(case):
    """Recorded ids; where the text is not ASCII and the reference (ftfy cleaning, which the
    old tokenizer skipped) differs, the reference's ids."""
    if "reference_ids" in case and not case["text"].isascii():
        return case["reference_ids"]
    return case["ids"]


def test_every_task_instruction_keeps_its_recorded_ids(tok):
    tasks = [c for c in CASES if c["kind"] == "task"]
    assert len(tasks) > 900  # every description of every variation of every task
    got = tok.encode_batch([c["text"] for c in tasks])
    wrong = [(c["text"], c["ids"], g) for c, g in zip(tasks, got) if g != c["ids"]]
    assert not wrong, wrong[:5]


@pytest.mark.parametrize("case", [c for c in CASES if c["kind"] == "odd"],
                         ids=lambda c: repr(c["text"][:30]))
def test_odd_inputs_keep_recorded_or_reference_ids(tok, case):
    ids = tok.encode(case["text"])
    assert ids == _expected(case)
    padded = tok([case["text"]])[0].tolist()
    full = [T.SOT_ID] + ids + [T.EOT_ID]
    if len(full) > len(padded):
        full = full[:len(padded) - 1] + [T.EOT_ID]
    assert padded == full + [0] * (len(padded) - len(full))
    if "reference_ids" not in case:
        assert padded == case["padded"]


def _reference_tokenizer():
    """open_clip's own SimpleTokenizer, loaded from its file without importing open_clip
    (whose package import needs torchvision)."""
    spec = importlib.util.find_spec("open_clip")
    path = Path(spec.submodule_search_locations[0]) / "tokenizer.py"
    mod_spec = importlib.util.spec_from_file_location("_open_clip_reference_tokenizer", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod.SimpleTokenizer()


NON_ASCII = [
    "open the “top” drawer’s handle", "it’s the ‘red’ jar", "crème brûlée à la café",
    "Café NAÏVE résumé", "cafÃ© mojibake", "ﬁne ﬂask ligatures", "ＯＰＥＮ the fullwidth drawer",
    "ΟΔΟΣ σοφίας", "ñandú Straße", "打开抽屉", "open the drawer 🙂", "🍷🍷 wine 🍾",
    "a\u00a0non-breaking\u2009thin space", "em—dash – en-dash … ellipsis", "İstanbul ǅemal",
    "&eacute;t&eacute; &amp;amp; “quoted”", "e\u0301 combining accent",
]


def test_matches_reference_tokenizer_on_non_ascii_text(tok):
    ref = _reference_tokenizer()
    for text in NON_ASCII:
        assert tok.encode(text) == ref.encode(text), text
    padded = tok(NON_ASCII, context_length=77)
    assert padded.tolist() == ref(NON_ASCII, context_length=77).tolist()


def test_uses_transformers_clip_tokenizer_wiring(tok):
    from transformers import CLIPTokenizer
    assert isinstance(tok.hf, CLIPTokenizer)
    assert (tok.vocab_size, tok.hf.bos_token_id, tok.hf.eos_token_id) == (49408, 49406, 49407)


def test_builds_without_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the tokenizer tried to open a network connection")
    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    tok = T.ClipTokenizer(context_length=8)
    assert tok(["open the top drawer"])[0].tolist() == [T.SOT_ID, 1488, 518, 1253, 23219,
                                                        T.EOT_ID, 0, 0]


def test_rejects_a_file_that_is_not_the_vocabulary(tmp_path):
    import gzip
    bad = tmp_path / "bpe.txt.gz"
    with gzip.open(bad, "wt", encoding="utf-8") as f:
        f.write("header\na b\nc d e\n")
    with pytest.raises(ValueError, match="not CLIP's BPE vocabulary"):
        T.ClipTokenizer(vocab_path=bad)


def test_rejects_non_strings(tok):
    with pytest.raises(TypeError, match="caption string"):
        tok([b"open the drawer"])
