from __future__ import annotations

import pytest

from monitor.text import (
    _UNSPACED_RANGES,
    DOUBLE_QUOTES,
    SINGLE_QUOTES,
    case_preserving,
    clean_lines,
    clean_text,
    html_to_text,
    is_unspaced_script,
    make_snippet,
    normalise,
    normalise_with_offsets,
    normalised_offsets,
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


@pytest.mark.parametrize(
    ("mark", "name"),
    [
        ("\u0027", "apostrophe"),
        ("\u00b4", "acute accent"),
        ("\u02bc", "modifier letter apostrophe (Ukrainian)"),
        ("\u02b9", "modifier letter prime"),
        ("\u02bb", "modifier letter turned comma"),
        ("\u02bd", "modifier letter reversed comma"),
        ("\u02ca", "modifier letter acute accent"),
        ("\u02cb", "modifier letter grave accent"),
        ("\u2032", "prime"),
        ("\u2035", "reversed prime"),
        ("\u0060", "grave accent"),
        ("\u2018", "left single quotation mark"),
        ("\u2019", "right single quotation mark"),
        ("\u201a", "single low-9 quotation mark"),
        ("\u201b", "single high-reversed-9 quotation mark"),
        ("\uff07", "fullwidth apostrophe"),
        ("\ua78c", "latin small letter saltillo"),
        ("\u1fbf", "greek psili"),
        ("\u1ffd", "greek oxia"),
        ("\u05f3", "hebrew geresh"),
    ],
)
def test_every_apostrophe_like_mark_is_an_apostrophe(mark: str, name: str) -> None:
    assert normalise(f"NATO{mark}s chief") == "nato's chief", name
    assert normalise(f"Прем{mark}єр") == "прем'єр", name
    assert case_preserving(f"NATO{mark}s") == "NATO's", name


@pytest.mark.parametrize(
    ("mark", "name"),
    [
        ("\u0022", "quotation mark"),
        ("\u2033", "double prime"),
        ("\u2036", "reversed double prime"),
        ("\u02ba", "modifier letter double prime"),
        ("\u02dd", "double acute accent"),
        ("\u201c", "left double quotation mark"),
        ("\u201d", "right double quotation mark"),
        ("\u201e", "double low-9 quotation mark"),
        ("\u201f", "double high-reversed-9 quotation mark"),
        ("\u00ab", "left guillemet"),
        ("\u00bb", "right guillemet"),
        ("\uff02", "fullwidth quotation mark"),
        ("\u301d", "reversed double prime quotation mark"),
        ("\u301e", "double prime quotation mark"),
        ("\u05f4", "hebrew gershayim"),
    ],
)
def test_every_double_quote_like_mark_is_a_double_quote(mark: str, name: str) -> None:
    assert normalise(f"Корпус {mark}Буря{mark}") == 'корпус "буря"', name


def test_the_quote_tables_hold_no_letter_or_space_after_unifying() -> None:
    assert {normalise(c) for c in SINGLE_QUOTES} == {"'"}
    assert {normalise(c) for c in DOUBLE_QUOTES} == {'"'}


@pytest.mark.parametrize(
    "raw",
    [
        "North Korea's troops. Kursk region!",
        "Die  ＫＵＲＳＫ-Region.  Straße \u200b zu.\n\nNeu",
        "   lead  and\ttrail   ",
        "ﬁne ﬂags ㎞ \u00b4s",
        "",
    ],
)
def test_normalised_offsets_agree_with_the_offset_map(raw: str) -> None:
    # Every cut of the original lands where the slow, per-character map says.
    mapped = normalise_with_offsets(raw)
    origin = mapped.origin or tuple(range(len(mapped.text) + 1))
    cuts = list(range(len(raw) + 1))
    expected = [next(i for i, o in enumerate(origin) if o >= cut) for cut in cuts]
    assert normalised_offsets(raw, cuts) == expected


def test_html_to_text_can_keep_paragraphs() -> None:
    html = "<p>North Korean troops\n moved.</p><p>Kursk  region</p><br>line<div></div>"
    assert html_to_text(html, lines=True) == "North Korean troops moved.\nKursk region\nline"
    assert html_to_text(html) == "North Korean troops moved. Kursk region line"


def test_clean_lines_keeps_one_break_between_lines_of_text() -> None:
    assert clean_lines(" a \u202e b \r\n\r\n\n  c\u2028d ") == "a b\nc\nd"


def test_a_snippet_of_a_text_with_paragraphs_is_one_line_and_its_spans_still_fit() -> None:
    from monitor.text import make_snippet

    text = "Troops moved at night.\n\nOfficials named the Storm Corps.\nNo figures were given."
    start = text.index("Storm Corps")
    snippet, spans = make_snippet(text, [(start, start + len("Storm Corps"))])
    assert "\n" not in snippet
    assert [snippet[a:b] for a, b in spans] == ["Storm Corps"]


@pytest.mark.parametrize(("first", "last"), _UNSPACED_RANGES)
def test_every_unspaced_range_is_recognised_at_both_ends(first: int, last: int) -> None:
    # The ranges are bisected by their starts: one out of order goes unseen.
    assert is_unspaced_script(chr(first)) and is_unspaced_script(chr(last))
    assert not is_unspaced_script(chr(first - 1)) or any(
        start <= first - 1 <= end for start, end in _UNSPACED_RANGES
    )
