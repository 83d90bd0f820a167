from __future__ import annotations

import pytest

from monitor.sentences import dateline_end, layout, paragraphs, sentences
from monitor.text import html_to_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "N. Korea sent troops. Gen. Kim said so. The U.S. condemned it.",
            ["N. Korea sent troops.", "Gen. Kim said so.", "The U.S. condemned it."],
        ),
        (
            "Lt. Col. Smith met Dr. Lee in St. Petersburg. Sgt. Park and Mr. Choi left.",
            ["Lt. Col. Smith met Dr. Lee in St. Petersburg.", "Sgt. Park and Mr. Choi left."],
        ),
        (
            "The U.K. and U.S. officials met. Talks ended.",
            ["The U.K. and U.S. officials met.", "Talks ended."],
        ),
        (
            "They met on Nov. 5 in Seoul. On Dec. 1 they met again.",
            ["They met on Nov. 5 in Seoul.", "On Dec. 1 they met again."],
        ),
        ("Talks in the U.S. The delegation left.", ["Talks in the U.S.", "The delegation left."]),
        ("They met in Nov. The war went on.", ["They met in Nov.", "The war went on."]),
        ("V. Putin and Kim J. Un met.", ["V. Putin and Kim J. Un met."]),  # initials
        (
            "It was 1.5 km away. Rates rose 0.25 points.",
            ["It was 1.5 km away.", "Rates rose 0.25 points."],
        ),
        (
            "Prices rose 5%. 15 people died in 2024. 20 more in 2025.",
            ["Prices rose 5%.", "15 people died in 2024.", "20 more in 2025."],
        ),
        (
            "He waited... and waited. Then... Nothing!",
            ["He waited... and waited.", "Then...", "Nothing!"],
        ),
        ("He paused… Then he left.", ["He paused…", "Then he left."]),
        (
            '"Why?" he asked. "We will win." Then silence.',
            ['"Why?" he asked.', '"We will win."', "Then silence."],
        ),
        (
            "He said: «Мы победим». (See below.) Next one.",
            ["He said: «Мы победим».", "(See below.)", "Next one."],
        ),
        (
            "Tanks, guns etc. and more. New sentence.",
            ["Tanks, guns etc. and more.", "New sentence."],
        ),
        (
            "В 2024 г. Россия и КНДР, т.е. союзники. В. Путин прибыл на ул. Ленина. "
            "Ким Чен Ын встретил его.",
            [
                "В 2024 г. Россия и КНДР, т.е. союзники.",
                "В. Путин прибыл на ул. Ленина.",
                "Ким Чен Ын встретил его.",
            ],
        ),
        (
            "Ok. 300 tys. żołnierzy, m.in. z KRLD. Gen. Nowak.",
            ["Ok. 300 tys. żołnierzy, m.in. z KRLD.", "Gen. Nowak."],
        ),
        (
            "北朝鮮がミサイルを発射した。日本は抗議した！本当か？はい",
            ["北朝鮮がミサイルを発射した。", "日本は抗議した！", "本当か？", "はい"],
        ),
        ("朝鲜发射导弹。“我们反对！”韩国说。", ["朝鲜发射导弹。", "“我们反对！”", "韩国说。"]),
        (
            "북한이 미사일을 발사했다. 합참이 밝혔다.그리고 끝났다.",
            ["북한이 미사일을 발사했다.", "합참이 밝혔다.", "그리고 끝났다."],
        ),
        ("No stop at the end", ["No stop at the end"]),
        ("", []),
    ],
)
def test_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_line_breaks_make_paragraphs_and_a_soft_wrap_does_not() -> None:
    text = (
        "First line\nwraps on in lower case.\n\nNew paragraph. Second sentence.\n"
        "Headline-like line\nAnother line without a stop"
    )
    assert paragraphs(text) == [
        "First line\nwraps on in lower case.",
        "New paragraph. Second sentence.",
        "Headline-like line",
        "Another line without a stop",
    ]
    assert sentences(text) == [
        "First line\nwraps on in lower case.",
        "New paragraph.",
        "Second sentence.",
        "Headline-like line",
        "Another line without a stop",
    ]


def test_a_line_break_before_a_capital_ends_the_paragraph_however_long_the_line() -> None:
    """Feed HTML reaches the matcher with one line per block (paragraph,
    list item, heading) and no wraps: a long related-stories item without a
    stop is not one sentence with the next."""
    text = html_to_text(
        "<ul><li>Russia says North Korean troops are not in the Kursk region</li>"
        "<li>Ukraine strikes an ammunition depot near Toropets</li></ul>",
        lines=True,
    )
    assert sentences(text) == [
        "Russia says North Korean troops are not in the Kursk region",
        "Ukraine strikes an ammunition depot near Toropets",
    ]


def test_layout_numbers_offsets_by_sentence_and_paragraph() -> None:
    text = "One. Two.\nThree."
    found = layout(text)
    assert found.sentences == (0, 5, 10)
    assert found.paragraphs == (0, 10)
    assert [found.sentence_of(i) for i in (0, 4, 5, 9, 10, 15)] == [0, 0, 1, 1, 2, 2]
    assert [found.paragraph_of(i) for i in (0, 9, 10)] == [0, 0, 1]
    assert found.dateline == 0


@pytest.mark.parametrize(
    ("text", "dateline"),
    [
        ("PYONGYANG, June 14 (KCNA) -- Kim Jong Un said", "PYONGYANG, June 14 (KCNA) -- "),
        ("SEOUL, Nov. 5 (Yonhap) -- N. Korea said", "SEOUL, Nov. 5 (Yonhap) -- "),
        ("KYIV (Reuters) - A missile hit", "KYIV (Reuters) - "),
        ("NEW DELHI (AP) — Twelve Indian nationals", "NEW DELHI (AP) — "),
        ("Moscow, June 5 (Reuters) - Russia said", "Moscow, June 5 (Reuters) - "),
        ("VLADIVOSTOK, Aug 11 - Heavy rain flooded", "VLADIVOSTOK, Aug 11 - "),
        ("SEOUL — South Korean officials", "SEOUL — "),
        ("KURSK, Russia, May 14 (wire) — Russian wheat", "KURSK, Russia, May 14 (wire) — "),
        ("VLADIVOSTOK, Russia (Reuters) - A ferry", "VLADIVOSTOK, Russia (Reuters) - "),
        ("LVIV, Ukraine, Nov. 5 (AP) — A drone", "LVIV, Ukraine, Nov. 5 (AP) — "),
        ("NIS, Serbia (Tanjug) - The city", "NIS, Serbia (Tanjug) - "),
        ("SPRINGFIELD, New Jersey (AP) — A man", "SPRINGFIELD, New Jersey (AP) — "),
        ("Москва, 5 ноября. /ТАСС/. Совет Федерации", "Москва, 5 ноября. /ТАСС/. "),
        ("МОСКВА, 6 ноября. /ТАСС/. Совет Федерации", "МОСКВА, 6 ноября. /ТАСС/. "),
        ("СЕУЛ, 20 июня. Администрация президента", "СЕУЛ, 20 июня. "),
        ("Москва, 12 авг — РИА Новости. В поселке", "Москва, 12 авг — РИА Новости. "),
        (
            "Санкт-Петербург, 15 сентября — РИА Новости. На фасаде",
            "Санкт-Петербург, 15 сентября — РИА Новости. ",
        ),
        ("Київ, 10 лютого. Укрінформ. Очільник Альянсу", "Київ, 10 лютого. Укрінформ. "),
        ("Kijów, 5 listopada (PAP) - Rosja", "Kijów, 5 listopada (PAP) - "),
        ("Warszawa, 12 grudnia 2024 (PAP) - Minister", "Warszawa, 12 grudnia 2024 (PAP) - "),
        ("【서울=연합뉴스】 북한이 미사일을", "【서울=연합뉴스】 "),
        ("(서울=연합뉴스) 김철수 기자 = 북한이 미사일을", "(서울=연합뉴스) 김철수 기자 = "),
        ("  \nPYONGYANG, March 10 (KCNA) -- Kim", "  \nPYONGYANG, March 10 (KCNA) -- "),
        ("(평양 11월 4일발 조선중앙통신) 로씨야련방", "(평양 11월 4일발 조선중앙통신) "),
        ("【평양 11월 4일발 조선중앙통신】 로씨야련방", "【평양 11월 4일발 조선중앙통신】 "),
        ("（평양11월 4일발 조선중앙통신） 로씨야", "（평양11월 4일발 조선중앙통신） "),
        ("(평양 2025년 11월 4일발 조선중앙통신) 로씨야", "(평양 2025년 11월 4일발 조선중앙통신) "),
    ],
)
def test_datelines(text: str, dateline: str) -> None:
    assert text[: dateline_end(text)] == dateline


@pytest.mark.parametrize(
    "text",
    [
        "Kim Jong Un (pictured) — the leader said",  # undated: a place in capitals only
        "Putin — a former KGB officer — said",
        "North Korea, the paper says, sent troops",
        "North Korea, Russia (and Iran) — the axis",  # undated: a place in capitals only
        # A second part only after a city in capitals, and not after an acronym or a label.
        "DPRK, Russia (and Iran) — the axis",
        "US, North Korea (again) — talks",
        "DPRK, RUSSIA — the axis",
        "UPDATE, North Korea (Reuters) — Troops",
        "EXCLUSIVE, Russia (Reuters) - Documents",
        "Kim Jong Un, Vladimir Putin, June 19 (KCNA) — The leaders",
        "Ким Чен Ын, Путин, 19 июня. Лидеры",
        "10:15. Врио губернатора сообщил",
        "07:40 Росія вночі атакувала Україну",
        "Seoul said on Nov. 5 (Tuesday) that",
        "(평양에서 11월 4일 열린 회의) 이후",  # a date in brackets, not "…일발 agency"
        "north korea, june 5 (kcna) -- lower case is no place",
        "",
    ],
)
def test_not_datelines(text: str) -> None:
    assert dateline_end(text) == 0


def test_a_dateline_joins_the_first_sentence() -> None:
    text = "МОСКВА, 6 ноября. /ТАСС/. Совет одобрил закон. Решение поддержали."
    assert sentences(text) == [
        "МОСКВА, 6 ноября. /ТАСС/. Совет одобрил закон.",
        "Решение поддержали.",
    ]
    assert layout(text).dateline == len("МОСКВА, 6 ноября. /ТАСС/. ")
