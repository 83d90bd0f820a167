"""Pages without feeds: the links a selector picks, as entries (monitor.pages)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from monitor.pages import MAX_LINKS, decode_html, parse_page
from monitor.parse import MAX_TITLE
from monitor.types import FeedFailure, Fetched, ParsedFeed

PAGES = Path(__file__).parent / "data" / "pages"
MOD = "https://www.defence.example/en/news/"


def fetched(body: bytes, url: str = MOD, content_type: str = "text/html") -> Fetched:
    digest = hashlib.sha256(body).hexdigest()
    return Fetched(url, url, body, content_type, None, None, digest)


def page(name: str, url: str = MOD, content_type: str = "text/html") -> Fetched:
    return fetched((PAGES / name).read_bytes(), url, content_type)


def parsed(result: ParsedFeed | FeedFailure) -> ParsedFeed:
    assert isinstance(result, ParsedFeed), result
    return result


def links(result: ParsedFeed | FeedFailure) -> list[tuple[str, str | None]]:
    return [(entry.title, entry.url) for entry in parsed(result).entries]


MOD_LINKS = [
    (
        "Statement on North Korean troops deployed to the Kursk region",
        MOD + "2024/11/05/north-korean-troops-kursk.html",
    ),
    (
        "Minister meets allied counterparts on air defence supplies",
        MOD + "2024/11/04/minister-meets-allies.html?utm_source=homepage&utm_medium=list",
    ),
    (
        "Weekly briefing: losses of the aggressor & the situation at the front",
        "https://www.defence.example/en/briefings/2024-11-01-weekly.html",
    ),
    (
        "Intelligence: the “Storm Corps” completed training near Vladivostok",
        MOD + "2024/10/30/storm-corps-training.html",
    ),
    (
        "Pyongyang has shipped millions of artillery shells",  # an image's alt
        MOD + "2024/10/28/pyongyang-artillery-shells.html",
    ),
]


def test_relative_links_become_absolute_and_menus_are_not_picked() -> None:
    result = parse_page(page("mod-news-en.html"), "article h2 a")

    assert links(result) == MOD_LINKS
    assert parsed(result).title == "Ministry of Defence (example)"  # og:site_name


def test_entries_are_keyed_by_canonical_link_with_no_text_or_date() -> None:
    entries = parsed(parse_page(page("mod-news-en.html"), "article h2 a")).entries

    assert [e.key for e in entries][:2] == [
        "link:www.defence.example/en/news/2024/11/05/north-korean-troops-kursk.html",
        "link:www.defence.example/en/news/2024/11/04/minister-meets-allies.html",
    ]
    assert {(e.text, e.published_at, e.legacy_key) for e in entries} == {("", None, None)}


def test_one_link_twice_is_one_entry_named_by_its_text() -> None:
    # "article a" also picks each picture's link, before its headline (whose
    # text wins over the alt), and a repeat without tracking parameters.
    assert links(parse_page(page("mod-news-en.html"), "article a")) == MOD_LINKS


def test_a_selector_of_elements_takes_the_first_link_inside_each() -> None:
    assert links(parse_page(page("mod-news-en.html"), "article h2")) == MOD_LINKS


def test_a_selector_inside_a_card_link_takes_the_link_around_it() -> None:
    # Each card is one <a> around a headline and a lead: the headline names it.
    base = "https://www.mon.example.pl/pl/aktualnosci/"
    result = parse_page(
        page("pl-mon-iso88592.html", base, "text/html; charset=ISO-8859-2"), ".art-list__title"
    )

    assert links(result) == [
        (
            "Szef MON o żołnierzach z Korei Północnej w obwodzie kurskim",
            base + "zolnierze-korei-polnocnej-w-obwodzie-kurskim",
        ),
        (
            "Ćwiczenia „Żelazna Tarcza” zakończone: źródła mówią o sukcesie",
            base + "ćwiczenia-na-bałtyku",
        ),
        (
            "Pjongjang zwiększył dostawy amunicji – komunikat służb",
            base + "pjongjang-dostawy-amunicji",
        ),
    ]
    assert parsed(result).title == "Ministerstwo Obrony Narodowej (przykład)"


def test_base_href_and_links_that_are_no_article() -> None:
    result = parse_page(
        page("agency-base-href.html", "https://www.agency.example/news/index.php"),
        "ul.releases li",
    )

    # javascript:, mailto:, #fragment, data:, ftp:, a broken host and a
    # broken port are dropped, and so is the item with no link at all.
    assert links(result) == [
        (
            "North Korean officers observed at a command post in the Kursk region",
            "https://press.agency.example/releases/2024/release-114.html",
        ),
        (
            "Second echelon of the DPRK contingent moved by rail",
            "https://press.agency.example/archive/2024/release-113.html",
        ),
        ("Briefing slides (PDF)", "https://cdn.agency.example/docs/briefing-112.pdf"),
        (
            "Interview with the agency's spokesperson",  # title=, the link has no text
            "https://press.agency.example/releases/release-108.html",
        ),
        (
            "Map: positions east of Sudzha",  # the alt of its only image
            "https://press.agency.example/releases/release-107.html",
        ),
        (
            "Storm Corps units re-equipped",
            "https://press.agency.example/releases/2024/release-102.html",
        ),
    ]
    assert parsed(result).title == "Press releases — Defence Intelligence Agency"


def test_windows_1251_declared_only_in_meta() -> None:
    base = "https://www.mil.example.ua"
    result = parse_page(page("uk-mod-1251.html", base + "/news/"), ".news-item .title a")

    assert links(result) == [
        (
            "Міноборони: північнокорейські військові зазнали перших втрат на Курщині",
            base + "/news/2024/11/05/zayava-kursk/",
        ),
        (
            "Інженерні підрозділи відновлюють ґрунтові дороги до позицій",
            base + "/news/2024/11/04/ґрунтові-дороги/",
        ),
        (
            "Брифінг: «Штурмовий корпус» КНДР перекинуто ближче до кордону",
            base + "/news/2024/11/03/bryfinh/",
        ),
    ]
    assert parsed(result).title == "Новини — Міністерство оборони України"


def test_euc_kr_declared_in_meta() -> None:
    base = "https://www.mnd.example.kr/mnd/news/"
    result = parse_page(page("kr-mnd-euckr.html", base + "list.jsp"), "td.subject a")

    assert links(result) == [
        ('국방부 "북한군, 쿠르스크 전선에 추가 투입 정황"', base + "view.jsp?id=1021&page=1"),
        ("폭풍군단 병력 이동 관련 정보 공유", base + "view.jsp?id=1020&page=1"),
        ("평양 열병식 동향 분석 결과 발표", base + "view.jsp?id=1019&page=1"),
    ]
    assert parsed(result).title == "국방부 - 보도자료"


def test_broken_html_is_repaired_not_fatal() -> None:
    # Unclosed <li> and <a>, unquoted attributes, a link inside a link, an
    # unknown entity, control and zero-width characters, a truncated end.
    base = "https://www.gs.example/press/"
    result = parse_page(page("broken.html", base), "ul.news li a")

    assert links(result) == [
        ("Losses of the enemy as of 6 November", base + "2024/11/06/losses.html"),
        ("Drone strikes on ammunition depots", base + "2024/11/05/drones.html"),
        ("North Korean units near Kursk", base + "2024/11/04/kursk.html"),
        (
            "Storm Corps & marines: joint assault repelled “quoted” &bogus;",
            base + "2024/11/03/storm.html",
        ),
        ("Outer link", base + "2024/11/02/nested.html"),
        ("inner link", base + "2024/11/02/inner.html"),
        ("Single-quoted href <b>escaped</b>", base + "2024/11/01/single-quoted.html"),
        ("Control characters: abc", base + "2024/10/31/ctl.html"),
    ]
    assert parsed(result).title == "Press centre – General Staff"


def test_an_unclosed_title_swallows_the_page_as_in_a_browser() -> None:
    body = b"<html><head><title>News<body><ul><li><a href='/a'>A</a></ul></body></html>"

    result = parse_page(fetched(body), "li a")

    assert result == FeedFailure(
        MOD, "no_links", "the selector 'li a' matched no links on this page"
    )


def test_a_5_mb_page_is_read_and_capped() -> None:
    # 2,000 matches amid 5 MB of text. (libxml2 merges the node sets of a
    # selector's descendant steps in quadratic time: 30,000 matches of
    # "article h2 a" take 2 s, 2,000 take milliseconds.)
    filler = "<p>" + "Operational update on the front line, by sector and unit. " * 45 + "</p>"
    items = "".join(
        f'<article><h2><a href="/n/{i}.html">Item {i}</a></h2>{filler}</article>'
        for i in range(2000)
    )
    body = f"<html><head><title>Big</title></head><body>{items}</body></html>".encode()
    assert len(body) > 5_000_000

    entries = parsed(parse_page(fetched(body), "article h2 a")).entries

    assert len(entries) == MAX_LINKS
    assert (entries[0].title, entries[0].url) == ("Item 0", "https://www.defence.example/n/0.html")
    assert entries[-1].title == f"Item {MAX_LINKS - 1}"


def test_long_titles_are_capped() -> None:
    body = f"<html><body><a href='/a'>{'x' * 5000}</a></body></html>".encode()

    (entry,) = parsed(parse_page(fetched(body), "a")).entries

    assert entry.title == "x" * (MAX_TITLE - 1) + "…"


def test_a_link_to_the_page_itself_is_not_an_item() -> None:
    body = (
        b"<html><body><a href='./'>News</a><a href='?#top'>Top</a><a href='x'>X</a></body></html>"
    )

    assert links(parse_page(fetched(body), "a")) == [("X", MOD + "x")]


def test_a_page_title_falls_back_to_title() -> None:
    body = b"<html><head><title>\n  Press   office\n</title></head><body><a href='/a'>A</a></body>"

    assert parsed(parse_page(fetched(body), "a")).title == "Press office"


# --- what is not a list of links ------------------------------------------------------


def test_zero_links_matched_is_said() -> None:
    result = parse_page(page("mod-news-en.html"), "div.news-list a")

    assert result == FeedFailure(
        MOD, "no_links", "the selector 'div.news-list a' matched no links on this page"
    )


def test_elements_matched_without_links_are_said() -> None:
    result = parse_page(page("mod-news-en.html"), "article time")

    assert result == FeedFailure(
        MOD,
        "no_links",
        "the selector 'article time' matched 5 elements on this page, "
        "but no http(s) link with a title among them",
    )


def test_a_bad_selector_is_a_failure_in_words() -> None:
    result = parse_page(page("mod-news-en.html"), "article >> a")

    assert isinstance(result, FeedFailure)
    assert result.reason == "bad_selector"
    assert result.message.startswith("not a CSS selector: 'article >> a'")


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"", "text/html", "the page is empty"),
        (b" \r\n\t ", "text/html", "the page is empty"),
        (
            b'{"items": [{"url": "https://x.example/a"}]}',
            "text/html",
            "a JSON document, not an HTML page",
        ),
        (b"\xef\xbb\xbf[1, 2]", "application/json", "a JSON document, not an HTML page"),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR<a href='/x'>x</a>",
            "text/html",
            "binary content (text/html), not an HTML page",
        ),
        (
            b"%PDF-1.7\n<a href='/x'>x</a>",
            "application/pdf",
            "binary content (application/pdf), not an HTML page",
        ),
        (
            b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>t</title></channel></rss>',
            "application/xml",
            "an RSS or Atom feed, not an HTML page: list it as a feed (url:)",
        ),
        (
            b"Service temporarily unavailable",
            "text/html",
            "no HTML markup: plain text, not a page",
        ),
    ],
)
def test_not_a_page(body: bytes, content_type: str, message: str) -> None:
    result = parse_page(fetched(body, content_type=content_type), "a")

    assert result == FeedFailure(MOD, "not_a_page", message)


def test_hostile_markup_does_not_crash() -> None:
    no_titles = "matched 10000 elements on this page, but no http(s) link with a title among them"
    cases = [
        # libxml2 stops nesting at 256 levels, and the link is lost (a
        # browser would show it): the failure says so.
        (b"<div>" * 100_000 + b"<a href='/deep'>Deep</a>", "matched no links on this page"),
        (b"<a href='/x'>" * 10_000, no_titles),
        (b"<<<>>><a href=>" + bytes(range(1, 256)), "matched 1 element on this page, but no"),
    ]
    for body, message in cases:
        result = parse_page(fetched(body), "a")
        assert isinstance(result, FeedFailure)
        assert (result.reason, message in result.message) == ("no_links", True), result


def test_an_xml_declaration_does_not_stop_the_parse() -> None:
    body = b'<?xml version="1.0" encoding="utf-16"?><html><body><a href="/x">X</a></body></html>'

    assert links(parse_page(fetched(body), "a")) == [("X", "https://www.defence.example/x")]


# --- decoding -------------------------------------------------------------------------


def test_decoding_order_bom_then_header_then_meta_then_utf8_then_detection() -> None:
    meta_1251 = '<meta charset="windows-1251"><p>Київ</p>'

    assert decode_html(b"\xef\xbb\xbf<p>\xc3\xa9</p>", "text/html; charset=cp1251") == (
        "<p>é</p>",
        "utf_8",
    )
    assert decode_html(meta_1251.encode("cp1251"), "text/html; charset=utf-8")[1] == "utf_8"
    assert decode_html(meta_1251.encode("cp1251"), "text/html") == (meta_1251, "cp1251")
    assert decode_html("<p>Київ</p>".encode(), "text/html") == ("<p>Київ</p>", "utf_8")


def test_utf_16_declared_by_the_header_is_no_binary() -> None:
    body = '<html><body><a href="/x">Київ</a></body></html>'.encode("utf-16-le")

    result = parse_page(fetched(body, content_type="text/html; charset=UTF-16LE"), "a")

    assert links(result) == [("Київ", "https://www.defence.example/x")]


def test_undeclared_windows_1251_is_detected() -> None:
    text = (
        "<html><body><p>Міністерство оборони повідомило, що підрозділи противника "
        "зазнали значних втрат під час наступу на східному напрямку.</p></body></html>"
    )

    assert decode_html(text.encode("cp1251"), "text/html")[0] == text


def test_labels_are_read_as_the_supersets_browsers_read() -> None:
    # ISO-8859-1 pages hold Windows quotes; EUC-KR pages hold UHC syllables.
    assert decode_html(b"<p>\x93Kursk\x94</p>", "text/html; charset=ISO-8859-1") == (
        "<p>“Kursk”</p>",
        "cp1252",
    )
    assert decode_html('<meta charset="euc-kr"><p>똠</p>'.encode("cp949"), "")[0].endswith("똠</p>")


def test_labels_no_browser_reads_are_ignored() -> None:
    assert decode_html(b"<p>+ADw-x</p>", "text/html; charset=utf-7") == ("<p>+ADw-x</p>", "utf_8")
    assert decode_html(b"<p>x</p>", "text/html; charset=base64") == ("<p>x</p>", "utf_8")
    assert decode_html(b"<p>x</p>", "text/html; charset=no-such-thing") == ("<p>x</p>", "utf_8")
    # A page found by reading it as ASCII is not UTF-16, whatever it says.
    assert decode_html(b'<meta charset="utf-16"><p>x</p>', "") == (
        '<meta charset="utf-16"><p>x</p>',
        "utf_8",
    )
