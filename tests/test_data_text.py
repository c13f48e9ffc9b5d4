"""The shipped Tiny Shakespeare corpus: checksum, size, alphabet, split and unigram entropy."""

import numpy as np
import pytest

from snn_dfa.data import encode_characters, load_tiny_shakespeare, unigram_entropy_nats
from snn_dfa.data import text as text_module
from snn_dfa.errors import DataError


def test_corpus_matches_its_card():
    corpus = load_tiny_shakespeare()
    assert len(corpus) == 1_115_394 and len(set(corpus)) == 65
    assert unigram_entropy_nats(corpus) == pytest.approx(3.31, abs=0.005)  # card: 3.31 nats/char
    train, val, alphabet = encode_characters(corpus)
    assert len(train) == int(0.9 * len(corpus)) and len(train) + len(val) == len(corpus)
    assert "".join(alphabet[i] for i in val[:50]) == corpus[len(train):len(train) + 50]


def test_unigram_entropy_closed_form():
    assert unigram_entropy_nats("aabb") == pytest.approx(np.log(2))
    assert unigram_entropy_nats("aaaa") == 0.0


def test_altered_corpus_is_refused(tmp_path, monkeypatch):
    (tmp_path / text_module.FILE_NAME).write_bytes(b"not the corpus")
    monkeypatch.setenv(text_module.ENV_TEXT_DIR, str(tmp_path))
    with pytest.raises(DataError, match="checksum"):
        load_tiny_shakespeare()
