"""CLIP's byte-level BPE tokenizer, offline, from the vocabulary file open_clip_torch ships.

The vocabulary (``open_clip/bpe_simple_vocab_16e6.txt.gz``) is located with
``importlib.util.find_spec`` so that open_clip itself is never imported (importing it pulls
in torchvision, which does not work beside our torch). ``MN_CLIP_BPE_PATH`` overrides the
location.

Token ids follow OpenAI CLIP / ViCLIP: 256 byte symbols, the same 256 with an end-of-word
marker ``</w>``, 48,894 merges, then ``<|startoftext|>`` (49406) and ``<|endoftext|>``
(49407): 49,408 ids. A caption becomes ``[SOT] + bpe(caption) + [EOT]``, zero-padded to the
context length; a caption that is too long is cut and its last kept token replaced by EOT
(as ViCLIP does), so the text tower can always pool at the EOT position (the largest id).

Text cleaning is CLIP's minus ftfy (used only if installed): HTML entities unescaped,
whitespace collapsed, lower-cased.
"""
from __future__ import annotations

import functools
import gzip
import html
import importlib.util
import os
from pathlib import Path
from typing import Sequence

import regex
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

# CLIP's pre-tokenization: special tokens, English contractions, letter runs, single digits,
# runs of other non-space characters.
_PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]"""
    r"""|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)


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


def bytes_to_unicode() -> dict[int, str]:
    """Reversible map from the 256 byte values to printable unicode characters (GPT-2/CLIP).

    Printable latin-1 bytes map to themselves; the others are shifted to code points 256+.
    """
    keep = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
            + list(range(ord("®"), ord("ÿ") + 1)))
    mapping = {b: chr(b) for b in keep}
    shift = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + shift)
            shift += 1
    return mapping


def _clean(text: str) -> str:
    try:  # ftfy fixes mojibake; optional (not a dependency), a no-op for clean ASCII
        import ftfy
        text = ftfy.fix_text(text)
    except ImportError:
        pass
    text = html.unescape(html.unescape(text))
    return regex.sub(r"\s+", " ", text).strip().lower()


class ClipTokenizer:
    """CLIP BPE tokenizer; ``tokenizer(["open the top drawer"])`` -> LongTensor (B, 32)."""

    def __init__(self, vocab_path: str | os.PathLike | None = None,
                 context_length: int = DEFAULT_CONTEXT_LENGTH):
        if context_length < 2:
            raise ValueError(f"context_length must be >= 2 (SOT and EOT), got {context_length}")
        self.context_length = context_length
        path = Path(vocab_path) if vocab_path is not None else find_bpe_vocab()
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")
        merges = [tuple(line.split()) for line in lines[1:1 + _NUM_MERGES]]
        if len(merges) != _NUM_MERGES or any(len(m) != 2 for m in merges):
            raise ValueError(f"{path} is not CLIP's BPE vocabulary (expected {_NUM_MERGES} "
                             "merges of two symbols after the header line)")
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        symbols = list(self.byte_encoder.values())
        vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
        vocab += [SOT_TOKEN, EOT_TOKEN]
        self.encoder = {tok: i for i, tok in enumerate(vocab)}
        self.decoder = {i: tok for tok, i in self.encoder.items()}
        self.bpe_ranks = {m: i for i, m in enumerate(merges)}
        assert len(self.encoder) == VOCAB_SIZE
        assert self.encoder[SOT_TOKEN] == SOT_ID and self.encoder[EOT_TOKEN] == EOT_ID
        self._bpe = functools.lru_cache(maxsize=65536)(self._bpe_uncached)

    @property
    def vocab_size(self) -> int:
        return len(self.encoder)

    def _bpe_uncached(self, token: str) -> tuple[str, ...]:
        """Merge the symbols of one pre-token greedily by merge rank."""
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if best not in self.bpe_ranks:
                break
            first, second = best
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        return word

    def encode(self, text: str) -> list[int]:
        """BPE ids of ``text`` without SOT/EOT."""
        if not isinstance(text, str):
            raise TypeError(f"expected a caption string, got {type(text).__name__}")
        ids: list[int] = []
        for piece in _PATTERN.findall(_clean(text)):
            if piece in (SOT_TOKEN, EOT_TOKEN):  # literal special tokens in the text
                ids.append(self.encoder[piece])
                continue
            unicode_piece = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[sym] for sym in self._bpe(unicode_piece))
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` (special and padding tokens dropped, words space-separated)."""
        toks = [self.decoder[int(i)] for i in ids if int(i) not in (0, SOT_ID, EOT_ID)]
        raw = bytearray(self.byte_decoder[c] for c in "".join(toks))
        return raw.decode("utf-8", errors="replace").replace("</w>", " ").strip()

    def __call__(self, texts: str | Sequence[str],
                 context_length: int | None = None) -> torch.Tensor:
        """Token ids (B, context_length) int64: SOT, BPE ids, EOT, zero padding."""
        if isinstance(texts, str):
            texts = [texts]
        n_ctx = context_length or self.context_length
        out = torch.zeros(len(texts), n_ctx, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [SOT_ID] + self.encode(text) + [EOT_ID]
            if len(ids) > n_ctx:  # truncate, keeping EOT last (ViCLIP's behaviour)
                ids = ids[:n_ctx]
                ids[-1] = EOT_ID
            out[row, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out


@functools.lru_cache(maxsize=4)
def get_tokenizer(context_length: int = DEFAULT_CONTEXT_LENGTH) -> ClipTokenizer:
    """A shared tokenizer (the vocabulary takes ~0.5 s to read)."""
    return ClipTokenizer(context_length=context_length)
