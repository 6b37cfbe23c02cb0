"""working-day calendar: overrides per date, years entered by hand, stored deadlines

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

``calendar_override`` says of one date that it is a holiday or a make-up workday (调休上班),
over what chinesecalendar says; ``calendar_year`` records that a year the library does not
know has been entered in full from the State Council's notice (else no deadline may reach it);
``deadline`` keeps every statutory clock with how it was computed, recomputed when the
calendar changes (gisgrid.supervision.workdays).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'calendar_override',
        sa.Column('day', sa.Date(), primary_key=True),
        sa.Column('kind', sa.String(10), nullable=False),
        sa.Column('reason', sa.String(200), nullable=False),
        sa.Column('entered_by', sa.String(200), nullable=False),
        sa.Column('entered_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("kind IN ('holiday', 'workday')", name='calendar_override_kind_ck'),
    )
    op.create_table(
        'calendar_year',
        sa.Column('year', sa.SmallInteger(), primary_key=True),
        sa.Column('source', sa.String(200), nullable=False),
        sa.Column('entered_by', sa.String(200), nullable=False),
        sa.Column('entered_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("year BETWEEN 2000 AND 2100", name='calendar_year_range_ck'),
    )
    op.create_table(
        'deadline',
        sa.Column('id', sa.Integer(), primary_key=True),
        # what the clock runs for: e.g. ('complaint', 12, 'accept'), ('case', 3, 'finish')
        sa.Column('subject', sa.String(20), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(20), nullable=False),
        sa.Column('start', sa.Date(), nullable=False),
        sa.Column('days', sa.SmallInteger(), nullable=False),
        # NULL while the clock reaches a year nobody has entered (unknown_year): never guessed
        sa.Column('due', sa.Date(), nullable=True),
        sa.Column('unknown_year', sa.SmallInteger(), nullable=True),
        sa.Column('computation', postgresql.JSONB(), nullable=False),
        sa.Column('computed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        # a met or withdrawn clock no longer moves with the calendar
        sa.Column('closed_on', sa.Date(), nullable=True),
        sa.CheckConstraint("days BETWEEN 0 AND 400", name='deadline_days_ck'),
        sa.UniqueConstraint('subject', 'subject_id', 'kind', name='deadline_subject_uq'),
        sa.CheckConstraint("(due IS NULL) = (unknown_year IS NOT NULL)", name='deadline_due_ck'),
    )
    op.create_index('deadline_open_ix', 'deadline', ['due'], postgresql_where=sa.text('closed_on IS NULL'))


def downgrade() -> None:
    op.drop_index('deadline_open_ix', 'deadline')
    op.drop_table('deadline')
    op.drop_table('calendar_year')
    op.drop_table('calendar_override')
