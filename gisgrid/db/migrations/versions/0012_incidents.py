"""incidents (应急监管): a major incident raised in a grid, pushed up its chain, closed with its result

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

An ``incident`` (e.g. a collective petition 集体上访) is raised in one grid; everyone whose
scope holds that grid — the grid's own staff and the staff of every grid above it, leaders and
admins — sees it at the top of their pages until it is closed, and its result for a while
after. ``incident_note`` is its progress (and the closing result); ``incident_ack`` records who
has read it at each level (the chain's 已阅). Row-level security as for complaints.
"""
from alembic import op
import sqlalchemy as sa

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_IN_SCOPE = "((SELECT gisgrid_sees_all()) OR grid_id = ANY ((SELECT gisgrid_scope_grids())::integer[]))"

POLICIES = f"""
ALTER TABLE incident ENABLE ROW LEVEL SECURITY;
CREATE POLICY incident_scope ON incident USING {_IN_SCOPE} WITH CHECK {_IN_SCOPE};
ALTER TABLE incident_note ENABLE ROW LEVEL SECURITY;
CREATE POLICY incident_note_scope ON incident_note
    USING ((SELECT gisgrid_sees_all()) OR incident_id IN (SELECT i.id FROM incident i));
ALTER TABLE incident_ack ENABLE ROW LEVEL SECURITY;
CREATE POLICY incident_ack_scope ON incident_ack
    USING ((SELECT gisgrid_sees_all()) OR incident_id IN (SELECT i.id FROM incident i));
"""


def upgrade() -> None:
    op.create_table(
        'incident',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('kind', sa.String(20), nullable=False),
        sa.Column('title', sa.String(200), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('people', sa.Integer(), nullable=True),
        sa.Column('grid_id', sa.Integer(), sa.ForeignKey('grid.id', ondelete='SET NULL'), nullable=True),
        sa.Column('employer_id', sa.BigInteger(), sa.ForeignKey('employer.id', ondelete='SET NULL'), nullable=True),
        sa.Column('employer_name', sa.String(200), nullable=True),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('raised_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('raised_by', sa.String(200), nullable=False),
        sa.Column('status', sa.String(10), server_default='open', nullable=False),
        sa.Column('result', sa.Text(), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_by', sa.String(200), nullable=True),
        sa.CheckConstraint("status IN ('open', 'closed')", name='incident_status_ck'),
        sa.CheckConstraint("(status = 'closed') = (result IS NOT NULL AND closed_at IS NOT NULL)",
                           name='incident_closed_ck'),
        sa.CheckConstraint("people IS NULL OR people >= 0", name='incident_people_ck'),
    )
    op.create_index('incident_open_ix', 'incident', ['status', 'raised_at'])
    op.create_index('incident_grid_ix', 'incident', ['grid_id'])
    op.create_table(
        'incident_note',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('incident_id', sa.Integer(), sa.ForeignKey('incident.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(10), server_default='progress', nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('actor', sa.String(200), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("kind IN ('progress', 'result')", name='incident_note_kind_ck'),
    )
    op.create_index('incident_note_ix', 'incident_note', ['incident_id', 'id'])
    op.create_table(
        'incident_ack',
        sa.Column('incident_id', sa.Integer(), sa.ForeignKey('incident.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('username', sa.String(100), primary_key=True),
        sa.Column('label', sa.String(200), nullable=False),
        sa.Column('staff_id', sa.Integer(), sa.ForeignKey('staff.id', ondelete='SET NULL'), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    )
    op.execute(POLICIES)


def downgrade() -> None:
    for table in ('incident_ack', 'incident_note', 'incident'):
        op.drop_table(table)
