"""CLIP's byte-level BPE tokenizer: transformers' ``CLIPTokenizer``, built offline from the
vocabulary file open_clip_torch ships.

The vocabulary (``open_clip/bpe_simple_vocab_16e6.txt.gz``, a header line then CLIP's 48,894
merges) is located with ``importlib.util.find_spec`` so that open_clip itself is never
imported (importing it pulls in torchvision, which does not work beside our torch).
``MN_CLIP_BPE_PATH`` overrides the location. The id table is derived from it in memory the
way CLIP orders it: 256 byte symbols, the same 256 with the end-of-word marker ``</w>``, one
id per merge, then ``<|startoftext|>`` (49406) and ``<|endoftext|>`` (49407): 49,408 ids.
transformers' ``CLIPTokenizer`` (backed by the ``tokenizers`` library) does the BPE; nothing
is downloaded.

Text cleaning is the reference's (open_clip / OpenAI CLIP): ``ftfy.fix_text`` (curly quotes,
mojibake, ligatures, NFC), HTML entities unescaped twice, whitespace collapsed, lower-cased.

A caption becomes ``[SOT] + bpe(caption) + [EOT]``, zero-padded to the context length; a
caption that is too long is cut and its last kept token replaced by EOT (as ViCLIP does), so
the text tower can always pool at the EOT position (the largest id). The literal strings
``<|startoftext|>``/``<|endoftext|>`` inside a caption map to their special ids (CLIP's
original tokenizer and transformers do so; open_clip 3 spells its specials differently).
"""
from __future__ import annotations

import functools
import gzip
import html
import importlib.util
import os
from pathlib import Path
from typing import Sequence

import torch

SOT_TOKEN = "<|startoftext|>"
EOT_TOKEN = "<|endoftext|>"
SOT_ID = 49406
EOT_ID = 49407
VOCAB_SIZE = 49408
DEFAULT_CONTEXT_LENGTH = 32  # ViCLIP's max_txt_l
_NUM_MERGES = VOCAB_SIZE - 2 * 256 - 2  # 48894
BPE_ENV_VAR = "MN_CLIP_BPE_PATH"
BPE_FILENAME = "bpe_simple_vocab_16e6.txt.gz"


def find_bpe_vocab() -> Path:
    """Path of CLIP's BPE vocabulary: $MN_CLIP_BPE_PATH, else the copy inside open_clip_torch."""
    override = os.environ.get(BPE_ENV_VAR)
    if override:
        path = Path(override)
        if not path.is_file():
            raise FileNotFoundError(f"{BPE_ENV_VAR}={override} is not a file; point it at "
                                    f"{BPE_FILENAME} or unset it")
        return path
    spec = importlib.util.find_spec("open_clip")  # locates the package without importing it
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / BPE_FILENAME
            if path.is_file():
                return path
    raise FileNotFoundError(
        f"CLIP's BPE vocabulary {BPE_FILENAME} was not found. Install the wheel that ships it "
        "(`pip install --no-deps open_clip_torch==3.3.0`, see requirements-nodeps.txt) or set "
        f"{BPE_ENV_VAR} to the file.")


def read_bpe_vocab(path: str | os.PathLike) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(token -> id, merges) of CLIP's vocabulary file, ids in CLIP's order."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1:1 + _NUM_MERGES]]
    if len(merges) != _NUM_MERGES or any(len(m) != 2 for m in merges):
        raise ValueError(f"{path} is not CLIP's BPE vocabulary (expected {_NUM_MERGES} "
                         "merges of two symbols after the header line)")
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += [SOT_TOKEN, EOT_TOKEN]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE or vocab[SOT_TOKEN] != SOT_ID or vocab[EOT_TOKEN] != EOT_ID:
        raise ValueError(f"{path} does not give CLIP's {VOCAB_SIZE} ids")
    return vocab, merges


def clean(text: str) -> str:
    """The reference's caption cleaning: ftfy, HTML unescape (twice), whitespace, lower case."""
    import ftfy
    text = html.unescape(html.unescape(ftfy.fix_text(text)))
    return " ".join(text.split()).lower()


class ClipTokenizer:
    """CLIP BPE tokenizer; ``tokenizer(["open the top drawer"])`` -> LongTensor (B, 32)."""

    def __init__(self, vocab_path: str | os.PathLike | None = None,
                 context_length: int = DEFAULT_CONTEXT_LENGTH):
        if context_length < 2:
            raise ValueError(f"context_length must be >= 2 (SOT and EOT), got {context_length}")
        from transformers import CLIPTokenizer
        self.context_length = context_length
        path = Path(vocab_path) if vocab_path is not None else find_bpe_vocab()
        vocab, merges = read_bpe_vocab(path)
        self.encoder = vocab  # token -> id, as in CLIP's own tokenizer
        self.hf = CLIPTokenizer(vocab=vocab, merges=merges)
        if self.hf.bos_token_id != SOT_ID or self.hf.eos_token_id != EOT_ID:
            raise RuntimeError(f"transformers' CLIPTokenizer gave SOT/EOT ids "
                               f"{self.hf.bos_token_id}/{self.hf.eos_token_id}, expected "
                               f"{SOT_ID}/{EOT_ID}")
        self._backend = self.hf.backend_tokenizer

    @property
    def vocab_size(self) -> int:
        return self._backend.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        """BPE ids of ``text`` without SOT/EOT."""
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"expected a caption string, got {type(t).__name__}")
        # one text at a time: encode_batch would start the tokenizers thread pool, which then
        # warns (and disables itself) in every DataLoader worker forked after it
        return [self._backend.encode(clean(t), add_special_tokens=False).ids for t in texts]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` (special and padding tokens dropped, words space-separated)."""
        keep = [int(i) for i in ids if int(i) not in (0, SOT_ID, EOT_ID)]
        return self.hf.decode(keep, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def __call__(self, texts: str | Sequence[str],
                 context_length: int | None = None) -> torch.Tensor:
        """Token ids (B, context_length) int64: SOT, BPE ids, EOT, zero padding."""
        if isinstance(texts, str):
            texts = [texts]
        n_ctx = context_length or self.context_length
        out = torch.zeros(len(texts), n_ctx, dtype=torch.long)
        for row, bpe in enumerate(self.encode_batch(list(texts))):
            ids = [SOT_ID] + bpe + [EOT_ID]
            if len(ids) > n_ctx:  # truncate, keeping EOT last (ViCLIP's behaviour)
                ids = ids[:n_ctx]
                ids[-1] = EOT_ID
            out[row, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out


@functools.lru_cache(maxsize=4)
def get_tokenizer(context_length: int = DEFAULT_CONTEXT_LENGTH) -> ClipTokenizer:
    """A shared tokenizer (building it takes ~0.5 s)."""
    return ClipTokenizer(context_length=context_length)
