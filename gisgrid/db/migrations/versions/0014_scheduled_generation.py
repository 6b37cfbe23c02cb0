"""generation status 'scheduled': a plan published with a future effective date

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

A draft published with an effective date after today waits as ``scheduled``: the active plan
stays in force (maps, assignment, registers) until that day, its ``effective_to`` set to the
day before, and on that day gisgrid.boundaries.generations.switch_due_generation activates
it (the worker checks, or ``gisgrid grids switch-due`` from cron). One at a time.
"""
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint('generation_status_ck', 'generation', type_='check')
    op.create_check_constraint('generation_status_ck', 'generation',
                               "status IN ('draft', 'active', 'retired', 'scheduled')")
    op.execute("CREATE UNIQUE INDEX generation_one_scheduled ON generation (status) WHERE status = 'scheduled'")


def downgrade() -> None:
    op.execute("DROP INDEX generation_one_scheduled")
    op.execute("UPDATE generation SET status = 'draft' WHERE status = 'scheduled'")
    op.drop_constraint('generation_status_ck', 'generation', type_='check')
    op.create_check_constraint('generation_status_ck', 'generation', "status IN ('draft', 'active', 'retired')")
