"""grid_lock: grids of a draft that must not change while it is being edited (规划锁定)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04

A planner locks grids of a draft (a street agreed with its office, a village boundary fixed by
a ruling); every edit that would change a locked grid — its boundary, name, code or parent —
is refused by the server, whoever sends it (another planner's browser, the API, the CLI).
Keyed by the grid's code within the draft, so a lock survives the grid's own versions.
"""
from alembic import op
import sqlalchemy as sa

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'grid_lock',
        sa.Column('generation_id', sa.Integer(), sa.ForeignKey('generation.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('code', sa.String(32), primary_key=True),
        sa.Column('locked_by', sa.String(200), nullable=False),
        sa.Column('locked_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('reason', sa.String(200), nullable=True),
    )


def downgrade() -> None:
    op.drop_table('grid_lock')
