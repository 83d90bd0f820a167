"""An article's text without its page's boilerplate (monitor.article).

Each fixture holds words that appear only in its menus, "Trending" and "Most
read" boxes, related lists, comments or footer: none may come through.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from monitor.article import MAX_ARTICLE_TEXT, ArticleText, extract_article
from monitor.types import Fetched

ARTICLES = Path(__file__).parent / "data" / "articles"
URL = "https://news.example/2024/11/06/story.html"


def fetched(body: bytes, content_type: str = "text/html") -> Fetched:
    return Fetched(URL, URL, body, content_type, None, None, hashlib.sha256(body).hexdigest())


def article(name: str, content_type: str = "text/html") -> str:
    result = extract_article(fetched((ARTICLES / name).read_bytes(), content_type))
    assert result.text is not None, result
    return result.text


def test_english_news_page_comes_out_as_its_paragraphs() -> None:
    # Cookie banner, menu, ticker, breadcrumbs, share buttons, a caption, an
    # inline "Read more" link, tags, related stories, comments, "Trending",
    # "Most read", a newsletter box and the footer are all left out.
    assert article("en-defence-news.html") == "\n\n".join(
        [
            "Artillery deliveries to the southern front doubled, ministry says",
            "Deliveries of 155 mm artillery shells to brigades on the southern front doubled "
            "in October compared with September, the defence ministry said on Wednesday, as new "
            "production lines in allied countries reached full capacity.",
            "The ministry's logistics directorate said convoys now reach the Zaporizhzhia and "
            "Kherson directions twice a week, and that the brigades holding the line near "
            "Robotyne had received their first full allocation since the summer.",
            "Production lines in allied countries",
            "Officials credited two new plants in Central Europe, which began shipping in late "
            "September, and a reorganised rail corridor that cut transit times from ten days to "
            'four. "The difference is felt at the gun line," a battery commander told reporters '
            "by telephone.",
            "Analysts cautioned that the increase follows months of rationing, when some howitzer "
            "crews were limited to a handful of rounds a day, and that the stockpile remains far "
            "smaller than the enemy's.",
            "The ministry said it would publish monthly delivery figures from December, a change "
            "long requested by members of parliament's defence committee, who have criticised the "
            "opacity of procurement data.",
            "Brigade quartermasters interviewed this week described shorter waits for fuses and "
            "propellant charges, though several said counter-battery radar spares remained scarce.",
        ]
    )


def test_a_layout_table_page_keeps_its_data_table_and_drops_its_menu_cell() -> None:
    # windows-1252 labelled ISO-8859-1, as servers do: its curly quotes must
    # come out as quotes. The page is one layout table; the losses table is data.
    text = article("en-ministry-table-1252.html", "text/html; charset=ISO-8859-1")

    assert text == "\n\n".join(
        [
            "06.11.2024 09:00",
            "Statement on enemy losses, 6 November 2024",
            "The General Staff reports the following approximate losses of the enemy from 24 "
            "February 2022 to 6 November 2024, with the figures for the past day in brackets. "
            "The data are being confirmed.",
            "| Category | Total | Past day |",
            "| Personnel | 710,150 | 1,480 |",
            "| Tanks | 9,210 | 12 |",
            "| Artillery systems | 20,305 | 31 |",
            "The greatest number of combat engagements took place on the Pokrovsk and Kurakhove "
            "directions, where defenders repelled 47 assaults. The “situation remains difficult "
            "but under control”, the statement said.",
            "The General Staff urged citizens to rely only on official sources and to report the "
            "movement of enemy equipment through the official chat-bot.",
        ]
    )


@pytest.mark.parametrize(
    ("name", "content_type", "first", "paragraphs", "body_words", "boilerplate"),
    [
        (
            "uk-armyinform.html",
            "text/html; charset=utf-8",
            "Оператори ударних безпілотників однієї з бригад знищили польовий склад пального "
            "поблизу Вовчанська, повідомили в пресслужбі угруповання військ.",
            5,
            ["Вовчанська", "цистерн", "«Головне — терпіння.", "ремонтні майстерні"],
            ["Курщин", "Пхеньян", "Storm Corps", "cookie", "Популярне", "Читайте також", "Теги"],
        ),
        (
            # EUC-KR, declared in <meta>; text straight in a <div> between
            # <br>s, the page laid out in a table.
            "ko-news-euckr.html",
            "text/html",
            "국방부는 내년부터 예비군 훈련장의 과학화 시스템을 전국 40개 훈련장으로 "
            "확대한다고 6일 밝혔다.",
            5,
            ["마일즈 장비", "8만2천원", "김민준 기자"],
            ["평양", "쿠르스크", "폭풍군단", "많이 본 뉴스", "관련기사", "댓글", "저작권자"],
        ),
        (
            # ISO-8859-2, declared only by the Content-Type header.
            "pl-gov-iso88592.html",
            "text/html; charset=ISO-8859-2",
            "Żołnierze 12. Dywizji zakończyli ćwiczenia nad Bałtykiem",
            5,
            ["Ustki", "Wojskami Obrony Terytorialnej", "„Ćwiczenia pokazały", "w czwartek"],
            ["Pjongjang", "Kursk", "kursk", "Korpus Burza", "cookies", "Janusz", "Polecane"],
        ),
        (
            "en-defence-news.html",
            "text/html",
            "Artillery deliveries to the southern front doubled, ministry says",
            8,
            ["Zaporizhzhia", "Robotyne", "howitzer", "quartermasters"],
            ["Pyongyang", "Storm Corps", "Kursk", "cookies", "Trending", "Most read", "Share"],
        ),
    ],
)
def test_boilerplate_words_never_come_through(
    name: str,
    content_type: str,
    first: str,
    paragraphs: int,
    body_words: list[str],
    boilerplate: list[str],
) -> None:
    text = article(name, content_type)

    assert text.split("\n\n")[0] == first
    assert len(text.split("\n\n")) == paragraphs
    assert [word for word in body_words if word not in text] == []
    assert [word for word in boilerplate if word in text] == []


def test_the_same_page_undeclared_is_decoded_by_detection() -> None:
    # The Polish page without its header: no <meta charset> either.
    text = article("pl-gov-iso88592.html", "text/html")

    assert text.split("\n\n")[0] == "Żołnierze 12. Dywizji zakończyli ćwiczenia nad Bałtykiem"


def test_a_long_article_is_cut_at_a_paragraph() -> None:
    paragraph = "Paragraph {}: the brigade held its positions while engineers rebuilt crossings. "
    body = "".join(f"<p>{paragraph.format(i) * 5}</p>\n" for i in range(1200))
    page = f"<html><body><article><h1>Long</h1>{body}</article></body></html>".encode()

    text = extract_article(fetched(page)).text

    assert text is not None
    assert len(text) <= MAX_ARTICLE_TEXT
    assert len(text) > MAX_ARTICLE_TEXT - 500  # one paragraph is 400 characters
    assert text.endswith("crossings.…")
    assert text.startswith("Long\n\nParagraph 0: the brigade")


def test_a_page_of_links_has_no_article() -> None:
    page = (
        b"<html><body><nav><ul><li><a href='/a'>Kursk</a></li><li><a href='/b'>Pyongyang</a>"
        b"</li></ul></nav><footer>(c) 2024</footer></body></html>"
    )

    assert extract_article(fetched(page)) == ArticleText(
        None, "no article text found on this page", "no_article"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the page is empty"),
        (b'{"headline": "Kursk"}', "a JSON document, not an HTML page"),
        (bytes(range(256)) * 10, "binary content (text/html), not an HTML page"),
    ],
)
def test_not_a_page(body: bytes, message: str) -> None:
    assert extract_article(fetched(body)) == ArticleText(None, message, "not_a_page")


def test_hostile_markup_gives_no_article_not_an_exception() -> None:
    bodies = [
        b"<div>" * 100_000 + b"<p>deep text</p>",
        b"<table><tr><td>" * 5000 + b"<p>x</p>",
        b"<html><body>" + b"<p><b><i><a href='/x'>" * 3000,
    ]
    for body in bodies:
        assert extract_article(fetched(body)) == ArticleText(
            None, "no article text found on this page", "no_article"
        )


def test_control_characters_never_come_through() -> None:
    text = article_of(
        "<p>" + "A statement\x0b from the ministry\u200b about the front line. " * 8 + "</p>"
    )

    assert "\x0b" not in text and "\u200b" not in text
    assert text.startswith("A statement from the ministry about the front line. A statement")


def article_of(markup: str) -> str:
    page = f"<html><body><article>{markup}</article></body></html>".encode()
    result = extract_article(fetched(page))
    assert result.text is not None, result
    return result.text
