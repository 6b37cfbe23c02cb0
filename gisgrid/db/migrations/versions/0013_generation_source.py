"""generation.source_id: the generation a draft was copied from

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

A planner starts a new plan by copying one (``gisgrid grids draft NAME --from GENERATION``,
``POST /api/generations/<source>/drafts``). The copy keeps every grid's code and stable
identity (``grid.identity``), so grid-level lineage needs no row; what the generation itself
was copied from is this column. A deleted source leaves the draft with none.
"""
from alembic import op
import sqlalchemy as sa

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('generation', sa.Column('source_id', sa.Integer(), nullable=True))
    op.create_foreign_key('generation_source_fk', 'generation', 'generation', ['source_id'], ['id'],
                          ondelete='SET NULL')


def downgrade() -> None:
    op.drop_constraint('generation_source_fk', 'generation', type_='foreignkey')
    op.drop_column('generation', 'source_id')
