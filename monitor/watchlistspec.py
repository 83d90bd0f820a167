"""The watchlist file format, as pydantic models: what each key may hold.

monitor.watchlist reads a file through these and builds the values the rest
of the program sees; a value that breaks a rule here is reported at its
file:line:col.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.schedule import Cron, QuietHours, parse_duration
from monitor.text import is_hangul

DEFAULT_SCHEDULE = "0 7 * * *"

# What an exclude phrase vetoes: the alias mentions in its own sentence, or
# every mention in the item.
ExcludeScope = Literal["sentence", "item"]
# Whether mentions inside a leading dateline ("PYONGYANG, June 14 (KCNA) --")
# count: by default they are the place a report was filed from, not its subject.
DatelineUse = Literal["ignore", "count"]


_ENV_REFERENCE = re.compile(r"^env:[A-Za-z_][A-Za-z0-9_]*$")
# No spaces, separators, quotes or encoded-word openers: an address goes into
# the To header and the SMTP envelope as it is written.
_ATOM = r'[^@\s<>,;:()\[\]\\"]+'
_EMAIL = re.compile(rf"^{_ATOM}@{_ATOM}\.{_ATOM}$")
_TELEGRAM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")


# --- the file format, as pydantic models -------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AliasSpec(_Strict):
    text: str = Field(min_length=1)
    case_sensitive: bool = False
    word_start: bool = False
    context: list[str] = []

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value

    @field_validator("text")
    @classmethod
    def _has_letters(cls, text: str) -> str:
        if not text.strip("* "):
            raise ValueError("an alias needs at least one letter")
        return text

    @field_validator("context")
    @classmethod
    def _context_has_letters(cls, context: list[str]) -> list[str]:
        if any(not word.strip("* ") for word in context):
            raise ValueError("a context word needs at least one letter")
        return context

    @model_validator(mode="after")
    def _word_start_is_for_hangul(self) -> AliasSpec:
        if self.word_start and not is_hangul(self.text.strip("* ")[0]):
            raise ValueError(
                "word_start is for an alias that starts with Hangul (평양): other scripts "
                "keep words apart already"
            )
        return self


class EntitySpec(_Strict):
    name: str | None = None
    aliases: list[AliasSpec] = Field(min_length=1)
    exclude: list[str] = []
    exclude_scope: ExcludeScope = "sentence"
    dateline: DatelineUse = "ignore"
    alert: bool = False


# The threshold of an about: check when the topic gives none: measured on
# held-out news, keyword AND similarity >= 0.4 kept the true matches.
DEFAULT_MIN_SIMILARITY = 0.4
MAX_ABOUT = 20


class TopicSpec(_Strict):
    name: str | None = None
    query: str = Field(min_length=1)
    dateline: DatelineUse = "ignore"
    alert: bool = False
    # A meaning check: sentences saying what the topic is about, and how
    # close (cosine, 0..1) a matching item must come to the nearest of them.
    about: list[str] | None = Field(None, min_length=1, max_length=MAX_ABOUT)
    min_similarity: float | None = Field(None, gt=0, lt=1)

    @field_validator("about")
    @classmethod
    def _sentences(cls, about: list[str] | None) -> list[str] | None:
        if about is not None and any(not sentence.strip() for sentence in about):
            raise ValueError("an about: sentence must not be empty")
        return about


class FeedSpec(_Strict):
    url: str | None = None
    telegram: str | None = None
    page: str | None = None
    links: str | None = None
    full_text: bool = False
    every: str | None = None
    title: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"url": value} if isinstance(value, str) else value

    @field_validator("url", "page")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^https?://[^/\s]+", url):
            raise ValueError("a feed or page URL must start with http:// or https://")
        return url

    @field_validator("telegram")
    @classmethod
    def _channel(cls, name: str | None) -> str | None:
        if name is None:
            return None
        name = name.strip().removeprefix("@")
        if not _TELEGRAM_NAME.match(name):
            raise ValueError(
                "a Telegram channel is its public name (5 to 32 letters, digits or _), "
                "as in https://t.me/NAME"
            )
        return name

    @field_validator("links")
    @classmethod
    def _selector(cls, selector: str | None) -> str | None:
        if selector is not None:
            from monitor.selectors import check_selector

            check_selector(selector)
        return selector

    @model_validator(mode="after")
    def _one_kind(self) -> FeedSpec:
        given = [k for k in ("url", "telegram", "page") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a source is one of url:, telegram: or page:")
        if self.page is not None and self.links is None:
            raise ValueError("a page: needs links: (a CSS selector of the links to follow)")
        if self.page is None and self.links is not None:
            raise ValueError("links: belongs to a page: source")
        if self.telegram is not None and self.full_text:
            raise ValueError("a Telegram post is its own text: full_text is for feeds and pages")
        return self

    @field_validator("every")
    @classmethod
    def _duration(cls, every: str | None) -> str | None:
        if every is not None and parse_duration(every) < timedelta(seconds=1):
            raise ValueError("a poll interval must be at least 1s")
        return every


def is_email_address(address: str) -> bool:
    return bool(_EMAIL.match(address)) and "=?" not in address


def _check_emails(addresses: list[str]) -> list[str]:
    for address in addresses:
        if not is_email_address(address):
            raise ValueError(f"not an email address: {address!r}")
    return addresses


def _check_notify(urls: list[str]) -> list[str]:
    for url in urls:
        if not (_ENV_REFERENCE.match(url) or "://" in url):
            raise ValueError(f"{url!r}: use a notification URL (e.g. ntfy://topic) or env:VARIABLE")
    return urls


class DigestSpec(_Strict):
    schedule: str = DEFAULT_SCHEDULE
    timezone: str | None = None
    email: list[str] = []
    notify: list[str] = []  # a short summary of each digest, not the digest itself

    _emails = field_validator("email")(_check_emails)
    _notify = field_validator("notify")(_check_notify)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, schedule: str) -> str:
        # Raises ValueError when malformed; a date that never comes (30 February)
        # would make every digest tick search years ahead for nothing.
        if Cron(schedule, "UTC").next_after(datetime(2000, 1, 1, tzinfo=UTC)) is None:
            raise ValueError(f"{schedule!r} never fires (no such date)")
        return schedule

    @field_validator("timezone")
    @classmethod
    def _zone(cls, zone: str | None) -> str | None:
        if zone is not None:
            _require_zone(zone)
        return zone


class AlertSpec(_Strict):
    email: list[str] = []
    notify: list[str] = []
    quiet_hours: str | None = None  # "22:00-07:00" in the digest's zone

    _emails = field_validator("email")(_check_emails)
    _notify = field_validator("notify")(_check_notify)

    @field_validator("quiet_hours")
    @classmethod
    def _window(cls, window: str | None) -> str | None:
        if window is not None:
            QuietHours.parse(window)
        return window


class WatchlistSpec(_Strict):
    title: str | None = None
    description: str = ""
    feeds: list[FeedSpec] = []
    entities: dict[str, EntitySpec] = {}
    topics: dict[str, TopicSpec] = {}
    digest: DigestSpec = DigestSpec()
    alerts: AlertSpec = AlertSpec()


def _require_zone(zone: str) -> None:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown time zone {zone!r} (use an IANA name like Europe/Kyiv)") from e
