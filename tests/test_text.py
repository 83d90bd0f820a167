from __future__ import annotations

import pytest

from monitor.text import (
    clean_text,
    html_to_text,
    is_unspaced_script,
    make_snippet,
    normalise,
    normalise_with_offsets,
)


def test_html_to_text_drops_scripts_and_separates_blocks() -> None:
    html = (
        "<p>North&nbsp;Korea</p><script>alert(1)</script>"
        "<div>sent&#32;troops</div><style>p{}</style>"
    )
    assert html_to_text(html) == "North Korea sent troops"


def test_html_to_text_removes_nul_and_lone_surrogates() -> None:
    assert html_to_text("a\x00b\ud800c") == "abc"


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("DPRK–Russia", "dprk-russia"),
        ("Russia’s “war”", 'russia\'s "war"'),
        ("Корпус «Буря»", 'корпус "буря"'),
        ("ＫＵＲＳＫ", "kursk"),  # NFKC folds full-width letters
        ("Kur\u200bsk  \n region", "kursk region"),  # invisible removed, spaces collapsed
        ("STRASSE Straße", "strasse strasse"),
    ],
)
def test_normalise(raw: str, normal: str) -> None:
    assert normalise(raw) == normal


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Kursk \u202eevorp\u202c offensive", "Kursk evorp offensive"),  # right-to-left override
        ("\u2067Pyongyang\u2069 says", "Pyongyang says"),  # isolates
        ("Ku\u200brsk\u2060 \ufeffcorps", "Kursk corps"),  # zero-width space, joiner, BOM
        ("Storm\ufdd0 Corps\uffff", "Storm Corps"),  # non-characters
        ("\u0645\u0631\u062d\u0628\u0627 \u200f!", "\u0645\u0631\u062d\u0628\u0627 \u200f!"),
        ("\U0001f469\u200d\U0001f4bb", "\U0001f469\u200d\U0001f4bb"),  # emoji keep their joiner
    ],
    ids=["rlo", "isolate", "zero-width", "non-character", "rtl-mark-kept", "zwj-kept"],
)
def test_clean_text_drops_characters_that_hide_or_reverse_text(raw: str, clean: str) -> None:
    """A title cannot read backwards in the digest or hide a word from a reader."""
    assert clean_text(raw) == clean


@pytest.mark.parametrize(
    "raw", ["North\u00a0Korea’s  “troops”\u200b — ＫＵＲＳＫ Straße", "", "  lead and trail  "]
)
def test_offsets_agree_with_the_fast_path(raw: str) -> None:
    slow = normalise_with_offsets(raw)
    assert slow.text == normalise(raw)
    assert slow.origin is None or len(slow.origin) == len(slow.text) + 1


def test_offsets_are_identity_when_nothing_resizes() -> None:
    normal = normalise_with_offsets("North Korea’s troops — Курск")
    assert normal.origin is None
    assert normal.text == "north korea's troops - курск"


def test_offsets_map_a_hit_back_to_the_original() -> None:
    raw = "Die  ＫＵＲＳＫ-Region"
    normal = normalise_with_offsets(raw)
    start = normal.text.index("kursk")
    first, last = normal.original_span(start, start + 5)
    assert raw[first:last] == "ＫＵＲＳＫ"


def test_unspaced_scripts() -> None:
    assert is_unspaced_script("폭") and is_unspaced_script("北") and is_unspaced_script("ク")
    assert not is_unspaced_script("K") and not is_unspaced_script("К")


def test_snippet_windows_around_the_first_hit_and_rebases_spans() -> None:
    text = "word " * 100 + "Kursk region " + "word " * 100
    start = text.index("Kursk")
    snippet, spans = make_snippet(text, [(start, start + 5)])
    assert snippet.startswith("…") and snippet.endswith("…")
    assert [snippet[a:b] for a, b in spans] == ["Kursk"]
    assert len(snippet) <= 245


def test_snippet_merges_overlapping_spans() -> None:
    snippet, spans = make_snippet("North Korean troops", [(0, 12), (6, 12), (13, 19)])
    assert spans == [(0, 12), (13, 19)]
    assert snippet == "North Korean troops"
