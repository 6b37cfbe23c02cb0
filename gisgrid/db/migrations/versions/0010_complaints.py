"""complaints (投诉举报): placed, routed to their finest grid, on the 5-working-day clock

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

Complaints hold personal data (the complainant's name and phone): row-level security shows
the web role only those of the user's scope, as for employers (migration 0007). Anyone may
add one (a worker on the public page, an inspector about a firm of another grid: it is
routed there); the public page reads its own complaint's progress by receipt number only,
through gisgrid_complaint_progress(), which returns no personal field.
``public_submission`` counts the public page's submissions per address (rate limit).
"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

POLICIES = """
ALTER TABLE complaint ENABLE ROW LEVEL SECURITY;
CREATE POLICY complaint_read ON complaint FOR SELECT
    USING ((SELECT gisgrid_sees_all()) OR grid_id = ANY ((SELECT gisgrid_scope_grids())::integer[]));
CREATE POLICY complaint_add ON complaint FOR INSERT WITH CHECK (true);
CREATE POLICY complaint_change ON complaint FOR UPDATE
    USING ((SELECT gisgrid_sees_all()) OR grid_id = ANY ((SELECT gisgrid_scope_grids())::integer[]));

CREATE FUNCTION gisgrid_complaint_progress(given text)
RETURNS TABLE (receipt text, received_on date, status text, accept_by date, decided_on date,
               refusal_reason text, grid_name text)
LANGUAGE sql STABLE SECURITY DEFINER AS $$
    SELECT c.receipt, c.received_on, c.status, d.due, c.decided_on, c.refusal_reason, g.name
    FROM complaint c
    LEFT JOIN deadline d ON d.subject = 'complaint' AND d.subject_id = c.id AND d.kind = 'accept'
    LEFT JOIN grid g ON g.id = c.grid_id
    WHERE c.receipt = given
$$;
"""


def upgrade() -> None:
    op.create_table(
        'complaint',
        sa.Column('id', sa.Integer(), primary_key=True),
        # what the complainant keeps to follow it: random, not the id (no guessing of others)
        sa.Column('receipt', sa.String(20), nullable=False, unique=True),
        sa.Column('channel', sa.String(10), nullable=False),
        sa.Column('received_on', sa.Date(), nullable=False),
        sa.Column('employer_id', sa.Integer(), sa.ForeignKey('employer.id', ondelete='SET NULL'), nullable=True),
        sa.Column('employer_name', sa.String(200), nullable=True),
        sa.Column('address', sa.String(300), nullable=True),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('complainant', sa.String(50), nullable=True),
        sa.Column('phone', sa.String(40), nullable=True),
        sa.Column('geom', Geometry('POINT', srid=4490, spatial_index=False), nullable=True),
        sa.Column('located_by', sa.String(12), nullable=False),
        sa.Column('generation_id', sa.Integer(), sa.ForeignKey('generation.id'), nullable=True),
        sa.Column('grid_id', sa.Integer(), sa.ForeignKey('grid.id', ondelete='SET NULL'), nullable=True),
        sa.Column('tie', sa.Boolean(), server_default='false', nullable=False),
        sa.Column('status', sa.String(10), server_default='received', nullable=False),
        sa.Column('decided_on', sa.Date(), nullable=True),
        sa.Column('decided_by', sa.String(200), nullable=True),
        sa.Column('refusal_reason', sa.String(500), nullable=True),
        sa.Column('entered_by', sa.String(200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("channel IN ('staff', 'public')", name='complaint_channel_ck'),
        sa.CheckConstraint("status IN ('received', 'accepted', 'refused')", name='complaint_status_ck'),
        sa.CheckConstraint("located_by IN ('employer', 'point', 'gazetteer', 'none')", name='complaint_located_ck'),
        sa.CheckConstraint("status <> 'refused' OR refusal_reason IS NOT NULL", name='complaint_refusal_ck'),
    )
    op.create_index('complaint_grid_ix', 'complaint', ['grid_id', 'status'])
    op.create_index('complaint_employer_ix', 'complaint', ['employer_id', 'received_on'])
    op.create_table(
        'public_submission',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('address', sa.String(64), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    )
    op.create_index('public_submission_address_ix', 'public_submission', ['address', 'at'])
    op.execute(POLICIES)
    schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar()
    op.execute(f'ALTER FUNCTION gisgrid_complaint_progress(text) SET search_path = "{schema}", pg_temp')


def downgrade() -> None:
    op.execute("DROP FUNCTION gisgrid_complaint_progress(text)")
    op.drop_table('public_submission')
    op.drop_table('complaint')
