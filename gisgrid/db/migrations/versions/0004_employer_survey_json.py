"""employer survey data as json: written once per survey, read whole, never searched

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


# employer_survey.data is the record as surveyed: the register import writes one per new or
# changed employer (1M in a first import) and the 一企一档 page reads it back whole; nothing
# queries inside it or compares it. Building jsonb (to_jsonb of the row: parsing every value
# into the binary form and sorting the keys) cost ~1 s per 200k rows more than json, which
# is the row's text (to_json), kept as written. The contents convert both ways without loss.
def upgrade() -> None:
    op.alter_column('employer_survey', 'data', type_=sa.JSON(), existing_type=postgresql.JSONB(),
                    postgresql_using='data::json')


def downgrade() -> None:
    op.alter_column('employer_survey', 'data', type_=postgresql.JSONB(), existing_type=sa.JSON(),
                    postgresql_using='data::jsonb')
