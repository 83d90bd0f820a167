"""Each item's source note and the state of its full-text article.

The note is a Telegram post's "Forwarded from …"; the article's state, tries
and error are kept where a source reads full text (full_text: true).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 17:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("article_state", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column("article_tries", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("article_error", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("old_news", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_item_article_state"), ["article_state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_article_state"))
        batch_op.drop_column("old_news")
        batch_op.drop_column("article_error")
        batch_op.drop_column("article_tries")
        batch_op.drop_column("article_state")
        batch_op.drop_column("note")
