"""Tiny Shakespeare, the standard character-level corpus, shipped in ``datasets/text/``.

1,115,394 characters (65 distinct) of Shakespeare's plays from karpathy/char-rnn
(``data/tinyshakespeare/input.txt``, MIT licence; the text is in the public domain), stored
gzip-compressed.  Card: ``datasets/text.md``.  Usual protocol: the first 90 % of the characters
for training, the last 10 % for validation; losses in nats per character.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from snn_dfa.data import cache
from snn_dfa.errors import DataError

FILE_NAME = "tinyshakespeare.txt.gz"
FILE_SHA256 = "e798bb4c191bb7da05700453e533953b5c2ca6c00c6f7d9d41cfabc2b550fe8c"
TEXT_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
ENV_TEXT_DIR = "SNN_DFA_TEXT_DIR"
HOW_TO_OBTAIN = (
    "the corpus ships with snn-dfa in datasets/text/ (restore it with `git checkout "
    "datasets/text`, or reinstall the package); set SNN_DFA_TEXT_DIR to read it elsewhere"
)


def text_dir() -> Path:
    """``$SNN_DFA_TEXT_DIR`` if set; else ``<repo>/datasets/text`` in a source checkout; else
    ``<sys.prefix>/share/snn-dfa/text`` (a regular install)."""
    env = os.environ.get(ENV_TEXT_DIR)
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[2] / "datasets" / "text"
    if repo.is_dir():
        return repo
    return Path(sys.prefix) / "share" / "snn-dfa" / "text"


def load_tiny_shakespeare() -> str:
    """The whole corpus as one string (checked by SHA-256 before and after decompression)."""
    path = text_dir() / FILE_NAME
    cache.verify_file(path, FILE_SHA256, HOW_TO_OBTAIN)
    raw = gzip.decompress(path.read_bytes())
    if hashlib.sha256(raw).hexdigest() != TEXT_SHA256:
        raise DataError(f"{path}: decompressed text does not match SHA-256 {TEXT_SHA256}")
    return raw.decode("utf-8")


def encode_characters(text: str, train_fraction: float = 0.9
                      ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Integer codes of ``text`` over its sorted alphabet, split in order into the first
    ``train_fraction`` (training) and the rest (validation): ``(train, val, alphabet)``."""
    alphabet = tuple(sorted(set(text)))
    index = {c: i for i, c in enumerate(alphabet)}
    codes = np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))
    cut = int(train_fraction * len(codes))
    return codes[:cut], codes[cut:], alphabet


def unigram_entropy_nats(text: str) -> float:
    """Entropy of the character frequencies of ``text`` in nats (3.31 for Tiny Shakespeare)."""
    counts = np.array(list(Counter(text).values()), dtype=np.float64)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())
