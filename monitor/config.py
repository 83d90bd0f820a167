"""Settings from the environment (MONITOR_*) or a .env file; CLI flags override."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitor import __version__
from monitor.resources import builtin_templates
from monitor.schedule import parse_duration

# The repository (benchmarks and tests read its files).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MONITOR_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///data/monitor.db"
    watchlists: Path = Path("watchlists")
    templates: Path = Path("templates")
    output_dir: Path = Path("digests")
    smtp_url: str | None = None
    mail_from: str = "monitor@localhost"
    timezone: str = "UTC"
    log_format: Literal["text", "json"] = "text"
    metrics_port: int | None = None
    allow_hosts: str = ""  # comma-separated host[:port] let through the URL guard

    poll_tick_seconds: float = Field(default=30.0, gt=0)  # how often due feeds are looked for
    digest_tick_seconds: float = Field(default=30.0, gt=0)
    deliver_tick_seconds: float = Field(default=15.0, gt=0)
    reload_seconds: float = Field(default=5.0, gt=0)  # watchlist change detection
    # The service writes a heartbeat this often; `monitor run --check` wants
    # one from the last four.
    heartbeat_seconds: float = Field(default=15.0, gt=0)
    fetch_timeout: float = Field(default=30.0, gt=0)  # total deadline per fetch
    # How long a feed taken for polling is kept from other workers (renewed
    # while the worker is at it); a worker that dies mid-poll leaves its feeds
    # to the others once this has passed. Unset: four fetch timeouts.
    feed_lease_seconds: float | None = Field(default=None, gt=0)
    max_body_bytes: int = Field(default=20 * 1024 * 1024, gt=0)  # after decompression
    fetch_workers: int = Field(default=8, ge=1)
    # Processes that parse and match changed bodies (every core by default),
    # started with the first changed body; 0 parses in the worker's own
    # process, with no time limit.
    parse_processes: int = Field(default_factory=_cores, ge=0)
    # A parse that takes longer fails its feed, and its process is replaced.
    parse_timeout: float = Field(default=60.0, gt=0)
    delivery_attempts: int = Field(default=8, ge=1)  # then a message is marked failed
    # How long a message being sent is kept from other senders; after a crash
    # mid-send it is retried once this has passed.
    delivery_lease_seconds: float = Field(default=300.0, gt=0)
    smtp_timeout: float = Field(default=30.0, gt=0)
    # Tests only: die at once (SIGKILL) at this step, to prove nothing is lost.
    fault: Literal["before-outbox-commit", "before-send", "after-smtp-250"] | None = None
    pause_after: int = Field(default=10, ge=1)  # consecutive failures that pause a feed
    # Items older than this whose matches were all reported are removed (their
    # keys are kept, so they never count as new again); 0 keeps everything.
    retention_days: int = Field(default=180, ge=0)
    user_agent: str = f"monitor/{__version__} (news monitoring; +https://github.com/monitor)"
    # Digests group near copies of one report into a story when their title
    # and text share this share of word shingles (0-1; higher merges less).
    story_threshold: float = Field(default=0.5, gt=0, le=1)
    # How digests see one event told by several outlets: "meaning" also joins
    # reports in their own words or other languages (an offline multilingual
    # model, loaded at the first digest; about 8 reports a second on two
    # cores); "words" joins only near copies.
    stories: Literal["meaning", "words"] = "meaning"
    # A digest of more reports than this joins copies only (the model's time
    # grows with the reports: about 0.15 s each on two cores).
    stories_max_reports: int = Field(default=600, ge=2)
    # A spike alert: a rule mentioned at least spike_min_mentions times in the
    # last spike_window_hours, more than spike_factor times its usual count
    # per window over the spike_baseline_days before.
    spike_window_hours: float = Field(default=6.0, gt=0)
    spike_baseline_days: float = Field(default=7.0, gt=0)
    spike_factor: float = Field(default=4.0, gt=1)
    spike_min_mentions: int = Field(default=5, ge=1)
    # Items published longer ago than this (and everything a feed's first
    # read finds) are old news: in the digest, never alerted ("24h", "90m", "2d").
    alert_max_age: timedelta = timedelta(hours=24)
    # Where the digests folder is served (e.g. https://news.example/digests):
    # emails link to their page there, which always holds every match.
    public_url: str = ""
    # Where Telegram channels' public previews are read (a mirror, or a test
    # server): the channel's name is appended.
    telegram_url: str = "https://t.me/s/"

    @field_validator("alert_max_age", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return value if isinstance(value, timedelta) else parse_duration(str(value))

    @field_validator("smtp_url", "fault", "metrics_port", "feed_lease_seconds", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def feed_lease(self) -> timedelta:
        return timedelta(seconds=self.feed_lease_seconds or 4 * self.fetch_timeout)

    @property
    def allowed_hosts(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.allow_hosts.split(",") if h.strip())

    @property
    def templates_dir(self) -> Path:
        """MONITOR_TEMPLATES when that folder exists, else the built-in templates."""
        if self.templates.is_dir():
            return self.templates
        return builtin_templates()

    def warnings(self, *, own_watchlist: bool = False) -> list[str]:
        """Settings that work, but likely not as meant: one line each
        (``own_watchlist``: for a command that brings its own, monitor demo,
        a missing watchlist folder is none)."""
        found = []
        if "templates" in self.model_fields_set and not self.templates.is_dir():
            found.append(
                f"no templates folder {self.templates} (MONITOR_TEMPLATES): "
                "the built-in templates are used"
            )
        if not own_watchlist and not self.watchlists.exists():
            found.append(
                f"no watchlist folder {self.watchlists} (MONITOR_WATCHLISTS): nothing is "
                "monitored; `monitor init` writes a starter one"
            )
        return found
