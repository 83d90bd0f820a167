"""Telegram channels through their public web preview, t.me/s/NAME (monitor.telegram)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.telegram import UNAVAILABLE, older_page_cursor, parse_telegram, preview_url
from monitor.types import Entry, FeedFailure, Fetched, ParsedFeed

DATA = Path(__file__).resolve().parent / "data" / "telegram"
PREVIEW = "https://t.me/s/kursk_watch"


def page(name: str) -> bytes:
    return (DATA / name).read_bytes()


def fetched(
    body: bytes, url: str = PREVIEW, content_type: str = "text/html", final_url: str = ""
) -> Fetched:
    return Fetched(url, final_url or url, body, content_type, None, None, "")


def parse(
    body: bytes, *more: bytes, url: str = PREVIEW, content_type: str = "text/html"
) -> ParsedFeed:
    parsed = parse_telegram(fetched(body, url, content_type), "kursk", more)
    assert isinstance(parsed, ParsedFeed), parsed
    return parsed


def by_id(parsed: ParsedFeed) -> dict[int, Entry]:
    return {int((e.url or "").rsplit("/", 1)[1]): e for e in parsed.entries}


def at(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- a channel page ---------------------------------------------------------------


def test_a_channel_page_gives_its_posts_with_text_newest_first() -> None:
    parsed = parse(page("kursk_watch.html"))
    assert parsed.title == "Kursk Watch 🌐"  # the header's, not og:title
    ids = [int((e.url or "").rsplit("/", 1)[1]) for e in parsed.entries]
    # 2041 a service message, 2043 a photo, 2046 a video, 2051 a document: skipped
    assert ids == [2052, 2050, 2049, 2048, 2047, 2045, 2044, 2042]
    assert [e.published_at for e in parsed.entries] == [
        at(2024, 11, 6, 6, 15, 30),  # "Z"
        at(2024, 11, 5, 14, 0),
        at(2024, 11, 5, 12, 40),
        at(2024, 11, 5, 11, 5),
        at(2024, 11, 5, 7, 21, 45),  # +03:00 made UTC
        at(2024, 11, 5, 8, 14, 3),
        at(2024, 11, 5, 7, 30),
        at(2024, 11, 4, 21, 47, 10),
    ]
    assert [e.note for e in parsed.entries].count(None) == 7


def test_text_keeps_its_lines_and_loses_its_markup() -> None:
    post = by_id(parse(page("kursk_watch.html")))[2045]
    assert post.text == (
        "⚡ Morning summary, 5 November\n"
        "1. Fighting continues west of Sudzha.\n"
        "2. The Pentagon briefing put the number of DPRK soldiers in the region at about 10,000.\n"
        "\n"
        "Source: yesterday's post 🇰🇵"
    )
    assert post.title == "⚡ Morning summary, 5 November"
    assert post.url == "https://t.me/kursk_watch/2045"
    assert post.key == "guid:t.me/kursk_watch/2045"


def test_paragraphs_and_quotes_are_lines_in_ukrainian_and_russian() -> None:
    posts = by_id(parse(page("kursk_watch.html")))
    assert posts[2042].text == (
        "Північнокорейські військові помічені біля Суджі.\n"
        "\n"
        "За даними ГУР, щонайменше три батальйони КНДР перекинуто до Курської області."
    )
    assert posts[2042].title == "Північнокорейські військові помічені біля Суджі."
    assert posts[2050].text.split("\n")[1:] == [
        "We assess that they are being used in assault roles.",
        "More after the closed session.",
    ]


def test_a_long_first_line_makes_a_title_cut_at_a_word() -> None:
    post = by_id(parse(page("kursk_watch.html")))[2050]
    assert post.title == (
        "South Korea's intelligence service told lawmakers on Tuesday that North Korean "
        "troops deployed to Russia's Kursk region…"
    )
    assert post.text.startswith(post.title[:-1] + " have begun")


def test_a_photo_with_a_caption_counts_and_a_link_preview_is_not_the_text() -> None:
    posts = by_id(parse(page("kursk_watch.html")))
    assert posts[2047].text == (
        "Колонна грузовиков с северокорейскими военными под Курском, кадр из местного паблика."
    )
    assert posts[2052].text == (
        "Песков отказался комментировать сообщения о северокорейских солдатах: "
        "news.example.ru/2024/11/06/peskov"
    )


def test_a_forwarded_post_says_where_from() -> None:
    post = by_id(parse(page("kursk_watch.html")))[2044]
    assert post.note == "Forwarded from Frontline Notes UA"
    assert post.text.startswith("Intercepted radio:")
    assert "Forwarded" not in post.text


def test_a_reply_is_its_own_text_without_the_quoted_post() -> None:
    post = by_id(parse(page("kursk_watch.html")))[2048]
    assert post.text == "Correction: the briefing said up to 10,000, not “about”."


def test_an_edited_post_is_an_ordinary_entry() -> None:
    post = by_id(parse(page("kursk_watch.html")))[2049]
    assert post.text == (
        "Оновлено: втрати підрозділів КНДР у Курській області, за оцінкою розвідки, "
        "перевищили 1 200 осіб."
    )
    assert "edited" not in post.text and post.published_at == at(2024, 11, 5, 12, 40)


def test_read_from_a_mirror_a_post_is_still_on_t_me() -> None:
    direct = parse(page("kursk_watch.html"))
    mirrored = parse(page("kursk_watch.html"), url="http://127.0.0.1:8080/s/kursk_watch")
    assert [e.url for e in mirrored.entries] == [e.url for e in direct.entries]
    assert [e.key for e in mirrored.entries] == [e.key for e in direct.entries]


# --- older pages ------------------------------------------------------------------


def test_older_pages_add_their_posts_once_newest_first() -> None:
    newest, older = page("kursk_watch.html"), page("kursk_watch_before_2041.html")
    parsed = parse(newest, older, newest, b"not a page")  # a page twice, a page of nothing
    ids = list(by_id(parsed))
    # 2038 a poll; 2037 the album's second photo, no post of its own
    assert ids == [2052, 2050, 2049, 2048, 2047, 2045, 2044, 2042, 2040, 2039, 2036, 2035]
    assert len({e.key for e in parsed.entries}) == 12
    album = by_id(parsed)[2036]
    assert (
        album.text == "Два снимка со спутника: лагерь под Уссурийском до и после отправки эшелонов."
    )
    assert by_id(parsed)[2040].text.endswith("metering station.\nDetails tomorrow.")


def test_the_older_page_cursor() -> None:
    assert older_page_cursor(page("kursk_watch.html")) == 2041  # <link rel="prev">
    assert older_page_cursor(page("kursk_watch_before_2041.html")) == 2035
    assert older_page_cursor(page("windows1251.html")) == 880
    assert older_page_cursor(page("broken.html")) == 301  # no links: its smallest post
    assert older_page_cursor(page("preview_disabled.html")) is None
    assert older_page_cursor(history([])) is None  # the channel's first page, empty
    assert older_page_cursor(history([post(1, "Channel opened.")])) is None  # nothing before 1
    assert older_page_cursor(b'<link rel="prev" href="/s/x?before=9">') is None  # no preview


def test_a_more_link_alone_gives_the_cursor() -> None:
    more = b'<a href="/s/kursk_watch?before=77" class="tme_messages_more js-messages_more">'
    assert older_page_cursor(history([post(90, "x")]).replace(b"<!--more-->", more)) == 77


@pytest.mark.parametrize(
    ("base", "channel", "before", "url"),
    [
        ("https://t.me/s/", "kursk_watch", None, "https://t.me/s/kursk_watch"),
        ("https://t.me/s", "@kursk_watch", 2041, "https://t.me/s/kursk_watch?before=2041"),
        (
            "http://127.0.0.1:8080/s/",
            "kursk_watch",
            5,
            "http://127.0.0.1:8080/s/kursk_watch?before=5",
        ),
    ],
)
def test_preview_url(base: str, channel: str, before: int | None, url: str) -> None:
    assert preview_url(base, channel, before) == url


# --- pages that are not a channel's posts --------------------------------------------


def test_a_disabled_preview_is_a_readable_failure() -> None:
    url = "https://t.me/s/sudzha_local"
    failed = parse_telegram(fetched(page("preview_disabled.html"), url))
    assert failed == FeedFailure(url, "telegram_unavailable", f"t.me/sudzha_local: {UNAVAILABLE}")
    assert (
        UNAVAILABLE == "the channel's public web preview is disabled or the channel does not exist"
    )


def test_a_channel_that_does_not_exist_redirects_to_a_contact_page() -> None:
    body = (
        b'<html><head><meta property="og:title" content="Telegram: Contact @no_such_chan">'
        b'</head><body><div class="tgme_page"><div class="tgme_page_additional">If you have '
        b"<strong>Telegram</strong>, you can contact <strong>@no_such_chan</strong> right away."
        b"</div></div></body></html>"
    )
    url = "https://t.me/s/no_such_chan"
    failed = parse_telegram(fetched(body, url, final_url="https://t.me/no_such_chan"))
    assert isinstance(failed, FeedFailure) and failed.reason == "telegram_unavailable"
    assert failed.message == f"t.me/no_such_chan: {UNAVAILABLE}"


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        (b"", "text/html", "empty body"),
        (b" \n ", "text/html", "empty body"),
        (json.dumps({"posts": [1, 2]}).encode(), "application/json", "(application/json)"),
        (b"<html><body><h1>Kursk news</h1><p>No channel here.</p></body></html>", "", "(unknown"),
        (b'<?xml version="1.0"?><rss><channel><title>x</title></channel></rss>', "text/xml", ""),
        (b"\x00\xff\xfe garbage \x89PNG", "image/png", "(image/png)"),
    ],
)
def test_bytes_that_are_no_preview_page_are_not_a_feed(
    body: bytes, content_type: str, says: str
) -> None:
    failed = parse_telegram(fetched(body, content_type=content_type))
    assert isinstance(failed, FeedFailure) and failed.reason == "not_a_feed"
    assert failed.message.startswith("t.me/kursk_watch: ") and says in failed.message


def test_a_history_without_posts_is_no_entries() -> None:
    parsed = parse(history([]))
    assert (parsed.title, parsed.entries) == ("Empty Channel", ())
    untitled = parse(history([]).replace(b"og:title", b"og:nothing"))
    assert untitled.title == "kursk_watch"  # the name in the address


# --- encodings and broken markup ----------------------------------------------------


def test_a_windows_1251_page_declared_only_in_its_meta() -> None:
    parsed = parse(page("windows1251.html"), url="https://t.me/s/kursk_front_ru")
    assert parsed.title == "Курский фронт"  # og:title: no header on this page
    first, second = parsed.entries
    assert first.note == "Forwarded from Глушково — инфо"
    assert first.text == (
        "Українські джерела: бійці КНДР проходять підготовку на полігонах Приморського краю."
    )
    assert second.text == (
        "Жители Глушково сообщают о военных «с азиатской внешностью» в форме без знаков различия."
    )
    assert (first.url, second.published_at) == (
        "https://t.me/kursk_front_ru/881",
        at(2024, 10, 28, 16, 20),
    )


def test_the_content_type_charset_wins_over_the_meta() -> None:
    text = history([post(7, "Источники: бойцы КНДР под Курском")]).decode()
    body = text.replace('charset="utf-8"', 'charset="windows-1251"').encode("koi8-r")
    (entry,) = parse(body, content_type="text/html; charset=KOI8-R").entries
    assert entry.text == "Источники: бойцы КНДР под Курском"
    (misread,) = parse(body).entries  # the meta alone: the wrong codec, no crash
    assert misread.text != entry.text


def test_undecodable_bytes_and_a_bom_do_not_break_the_page() -> None:
    body = b"\xef\xbb\xbf" + history([post(5, "Kursk ?? update")]).replace(b"??", b"\xff\xfe")
    (entry,) = parse(body, content_type="text/html; charset=no-such-charset").entries
    assert entry.text == "Kursk �� update"


def test_broken_markup_is_read_as_a_browser_would() -> None:
    parsed = parse(page("broken.html"), url="https://t.me/s/storm_tracker")
    assert parsed.title == "Storm Corps Tracker"
    assert [(e.url, e.published_at, e.text) for e in parsed.entries] == [
        ("https://t.me/storm_tracker/304", None, "Last one, cut off mid-"),
        (
            "https://t.me/storm_tracker/302",
            None,  # datetime="yesterday"
            "Losses < 100? Nobody believes that & nobody says it &unknown; aloud.",
        ),
        (
            # its text never closed: the footer's time is still its own, not its text
            "https://t.me/storm_tracker/301",
            at(2024, 12, 1, 10, 0),
            "Unit 11th Corps redeployed from Kursk to\nthe Pokrovsk direction, say two sources",
        ),
    ]  # 303: a photo left open, no text


def test_a_five_megabyte_page_parses_every_post() -> None:
    count = 4000
    posts = [
        post(10_000 + n, f"Update {n}: North Korean units near Kursk, day {n}.")
        for n in range(count)
    ]
    body = history(posts)
    assert len(body) > 5_000_000
    parsed = parse(body)
    assert len(parsed.entries) == count
    assert (
        parsed.entries[0].text
        == f"Update {count - 1}: North Korean units near Kursk, day {count - 1}."
    )
    assert parsed.entries[-1].url == "https://t.me/kursk_watch/10000"
    assert older_page_cursor(body) == 10_000


# --- pages made here ----------------------------------------------------------------


def history(posts: list[bytes]) -> bytes:
    """A preview page, as t.me/s/ serves it, with the given posts."""
    return (
        b'<!DOCTYPE html><html><head><meta charset="utf-8">'
        b'<meta property="og:title" content="Empty Channel"></head>'
        b'<body class="widget_frame_base tgme_webpreview"><main class="tgme_main">'
        b'<section class="tgme_channel_history js-message_history"><!--more-->'
        + b"".join(posts)
        + b"</section></main></body></html>"
    )


def post(number: int, text: str) -> bytes:
    """One post of kursk_watch, padded to the size of a real one (views, avatar, tail)."""
    padding = "x" * 700
    return f"""
<div class="tgme_widget_message_wrap js-widget_message_wrap"><div
 class="tgme_widget_message text_not_supported_wrap js-widget_message"
 data-post="kursk_watch/{number}" data-view="{padding}">
 <div class="tgme_widget_message_user"><a href="https://t.me/kursk_watch"><i
  class="tgme_widget_message_user_photo bgcolor2" data-content="KW"></i></a></div>
 <div class="tgme_widget_message_bubble">
  <div class="tgme_widget_message_text js-message_text" dir="auto">{text}</div>
  <div class="tgme_widget_message_footer compact js-message_footer"><div
   class="tgme_widget_message_info short js-message_info">
   <span class="tgme_widget_message_views">1.2K</span><span class="copyonclick"></span><span
    class="tgme_widget_message_meta"><a class="tgme_widget_message_date"
    href="https://t.me/kursk_watch/{number}"><time datetime="2024-11-05T08:14:03+00:00"
    class="time">08:14</time></a></span>
  </div></div>
 </div>
</div></div>""".encode()
