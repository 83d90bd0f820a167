"""The schema as create_all made it before migrations existed.

Revision ID: 0001
Create Date: 2026-11-25

A database made then (tables, no alembic_version) is stamped at this
revision, after a check that its tables are these (monitor.migrations).
Column types are spelt in plain SQLAlchemy: the models' UTCDateTime is a
DateTime(timezone=True), SQLModel's AutoString a String.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)
UNREPORTED = sa.text("digest_id IS NULL")


def upgrade() -> None:
    op.create_table(
        "feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("fetch_url", sa.String(), nullable=True),
        sa.Column("moved_to", sa.String(), nullable=True),
        sa.Column("moved_count", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(), nullable=True),
        sa.Column("every_seconds", sa.Integer(), nullable=False),
        sa.Column("etag", sa.String(), nullable=True),
        sa.Column("last_modified", sa.String(), nullable=True),
        sa.Column("body_hash", sa.String(), nullable=True),
        sa.Column("next_poll_at", WHEN, nullable=True),
        sa.Column("last_polled_at", WHEN, nullable=True),
        sa.Column("last_success_at", WHEN, nullable=True),
        sa.Column("consecutive_errors", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("last_error_reason", sa.String(), nullable=True),
        sa.Column("error_since", WHEN, nullable=True),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_until", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url"),
    )
    op.create_index("ix_feed_next_poll_at", "feed", ["next_poll_at"])

    op.create_table(
        "item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("url", sa.String(), nullable=True),
        sa.Column("published_at", WHEN, nullable=True),
        sa.Column("first_seen_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_item_first_seen_at", "item", ["first_seen_at"])

    op.create_table(
        "item_source",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.ForeignKeyConstraint(["feed_id"], ["feed.id"]),
        sa.PrimaryKeyConstraint("item_id", "feed_id"),
    )

    op.create_table(
        "pruned_key",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("pruned_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )

    op.create_table(
        "digest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watchlist", sa.String(), nullable=False),
        sa.Column("scheduled_for", WHEN, nullable=False),
        sa.Column("window_start", WHEN, nullable=False),
        sa.Column("window_end", WHEN, nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("match_count", sa.Integer(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("watchlist", "scheduled_for"),
    )
    op.create_index("ix_digest_watchlist", "digest", ["watchlist"])

    op.create_table(
        "match",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("watchlist", sa.String(), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("fields", sa.String(), nullable=False),
        sa.Column("snippet", sa.Text(), nullable=False),
        sa.Column("spans", sa.String(), nullable=False),
        sa.Column("alert", sa.Boolean(), nullable=False),
        sa.Column("alert_queued_at", WHEN, nullable=True),
        sa.Column("digest_id", sa.Integer(), nullable=True),
        sa.Column("first_seen_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.ForeignKeyConstraint(["digest_id"], ["digest.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "watchlist", "rule"),
    )
    op.create_index("ix_match_item_id", "match", ["item_id"])
    op.create_index("ix_match_watchlist", "match", ["watchlist"])
    op.create_index("ix_match_digest_id", "match", ["digest_id"])
    op.create_index("ix_match_first_seen_at", "match", ["first_seen_at"])
    op.create_index("ix_match_watchlist_seen_rule", "match", ["watchlist", "first_seen_at", "rule"])
    op.create_index(
        "ix_match_unreported",
        "match",
        ["watchlist", "first_seen_at"],
        sqlite_where=UNREPORTED,
        postgresql_where=UNREPORTED,
    )

    op.create_table(
        "spike",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watchlist", sa.String(), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("last_seen_at", WHEN, nullable=False),
        sa.Column("mentions", sa.Integer(), nullable=False),
        sa.Column("usual", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("watchlist", "rule", "started_at"),
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("watchlist", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("digest_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", WHEN, nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("sent_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(["digest_id"], ["digest.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_outbox_status", "outbox", ["status"])

    op.create_table(
        "watchlist",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("first_loaded_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    for table in (
        "watchlist",
        "outbox",
        "spike",
        "match",
        "digest",
        "pruned_key",
        "item_source",
        "item",
        "feed",
    ):
        op.drop_table(table)  # and its indexes
