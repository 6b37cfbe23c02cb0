"""employer register: code checks, integrity grades, key supervision, placement

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


# Surveys and grades are written in bulk by the register import (1M rows): a foreign-key
# check per row cost more than the insert itself. As for assignment (0001), a
# statement-level trigger removes them with their employer instead.
FORGET = """
CREATE FUNCTION employer_forget_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM employer_survey WHERE employer_id IN (SELECT id FROM old_rows);
    DELETE FROM employer_grade WHERE employer_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END $$;
CREATE TRIGGER employer_forget_history AFTER DELETE ON employer
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION employer_forget_history();
"""


def upgrade() -> None:
    # credit_code_status: valid | check_failed (kept, warned) | accepted (overridden with a reason)
    op.add_column('employer', sa.Column('credit_code_status', sa.String(length=20), nullable=True))
    op.add_column('employer', sa.Column('integrity_grade', sa.String(length=1), nullable=True))
    op.add_column('employer', sa.Column('grade_year', sa.SmallInteger(), nullable=True))
    op.add_column('employer', sa.Column('complaints_12m', sa.SmallInteger(), nullable=True))
    op.add_column('employer', sa.Column('key_flags', sa.Text(), nullable=True))
    op.add_column('employer', sa.Column('located_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('employer', sa.Column('placed_by', sa.String(length=100), nullable=True))
    op.add_column('employer', sa.Column('name_key', sa.Text(), nullable=True))
    op.create_index('employer_name_key_ix', 'employer', ['name_key'], unique=False)
    op.create_table('employer_grade',
    sa.Column('employer_id', sa.BigInteger(), nullable=False),
    sa.Column('year', sa.SmallInteger(), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('employer_id', 'year')
    )
    op.drop_constraint('employer_survey_employer_id_fkey', 'employer_survey', type_='foreignkey')
    op.execute(FORGET)
    op.create_table('credit_code_acceptance',
    sa.Column('credit_code', sa.String(length=18), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('accepted_by', sa.String(length=100), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('credit_code')
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS employer_forget_history ON employer; "
               "DROP FUNCTION IF EXISTS employer_forget_history()")
    op.create_foreign_key('employer_survey_employer_id_fkey', 'employer_survey', 'employer',
                          ['employer_id'], ['id'], ondelete='CASCADE')
    op.drop_table('credit_code_acceptance')
    op.drop_table('employer_grade')
    op.drop_index('employer_name_key_ix', table_name='employer')
    for column in ('name_key', 'placed_by', 'located_at', 'key_flags', 'complaints_12m', 'grade_year',
                   'integrity_grade', 'credit_code_status'):
        op.drop_column('employer', column)
