"""the user groups each approver was resolved to when voting

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 00:15:00

The executor counts earlier votes under the policy as it is at execution time; an approver who
qualified through a Slack user group must be re-checked with the groups they had when voting
(the bot cannot resolve someone else's memberships at another person's click). NULL: a vote
recorded before this column, re-checked by user id alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("proposal_approvals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("groups", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("proposal_approvals", schema=None) as batch_op:
        batch_op.drop_column("groups")
