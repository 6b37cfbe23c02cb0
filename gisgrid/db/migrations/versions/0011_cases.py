"""cases (立案 → 调查 → 处理 → 结案) and inspections (日常巡查, 书面审查) with rectification orders

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

A case (``case_file``: CASE is an SQL keyword) is filed from an accepted complaint, from an
inspection, or directly; its 60-working-day clock lives in ``deadline`` ('case', id, 'finish')
and is extended once by 30 with the approver recorded. ``case_inspector`` names the
inspectors (staff) of a case: the investigation needs two (条例 art. 16). ``case_event`` is
the case's own history (every state change with the user; the audit log has it too).
``case_document`` keeps attached files in the database (size-limited and type-checked by
gisgrid.supervision.cases), so a backup holds them and row-level security covers them.

An ``inspection`` is a routine patrol or the yearly written review of one employer: the
inspectors, the 9 items of 人社部规〔2016〕1号 with a result each, findings; a
``rectification`` order (责令改正) with its due date comes from an inspection or a case,
and is met, or refused (which grades the employer C, gisgrid.supervision.grading).

All of it holds employer data: row-level security shows the web role only the rows of the
user's grids (as for complaints, migration 0010); the dependent tables follow their parent.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_IN_SCOPE = "((SELECT gisgrid_sees_all()) OR grid_id = ANY ((SELECT gisgrid_scope_grids())::integer[]))"

POLICIES = f"""
ALTER TABLE inspection ENABLE ROW LEVEL SECURITY;
CREATE POLICY inspection_scope ON inspection USING {_IN_SCOPE} WITH CHECK {_IN_SCOPE};
ALTER TABLE inspection_inspector ENABLE ROW LEVEL SECURITY;
CREATE POLICY inspection_inspector_scope ON inspection_inspector
    USING ((SELECT gisgrid_sees_all()) OR inspection_id IN (SELECT i.id FROM inspection i));
ALTER TABLE case_file ENABLE ROW LEVEL SECURITY;
CREATE POLICY case_file_scope ON case_file USING {_IN_SCOPE} WITH CHECK {_IN_SCOPE};
ALTER TABLE case_inspector ENABLE ROW LEVEL SECURITY;
CREATE POLICY case_inspector_scope ON case_inspector
    USING ((SELECT gisgrid_sees_all()) OR case_id IN (SELECT c.id FROM case_file c));
ALTER TABLE case_event ENABLE ROW LEVEL SECURITY;
CREATE POLICY case_event_scope ON case_event
    USING ((SELECT gisgrid_sees_all()) OR case_id IN (SELECT c.id FROM case_file c));
ALTER TABLE case_document ENABLE ROW LEVEL SECURITY;
CREATE POLICY case_document_scope ON case_document
    USING ((SELECT gisgrid_sees_all()) OR case_id IN (SELECT c.id FROM case_file c));
ALTER TABLE rectification ENABLE ROW LEVEL SECURITY;
CREATE POLICY rectification_scope ON rectification USING {_IN_SCOPE} WITH CHECK {_IN_SCOPE};
"""


def upgrade() -> None:
    op.create_table(
        'inspection',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('kind', sa.String(10), nullable=False),
        sa.Column('employer_id', sa.BigInteger(), sa.ForeignKey('employer.id'), nullable=False),
        # the employer's grid when inspected: who answered for it then
        sa.Column('grid_id', sa.Integer(), sa.ForeignKey('grid.id', ondelete='SET NULL'), nullable=True),
        sa.Column('inspected_on', sa.Date(), nullable=False),
        # the year a written review covers (the previous year's record)
        sa.Column('review_year', sa.SmallInteger(), nullable=True),
        # {"contracts": {"result": "ok"|"violation"|"na", "note": "…"}, …} over the 9 items
        sa.Column('items', postgresql.JSONB(), nullable=False),
        sa.Column('findings', sa.Text(), nullable=True),
        sa.Column('entered_by', sa.String(200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("kind IN ('patrol', 'review')", name='inspection_kind_ck'),
        sa.CheckConstraint("(kind = 'review') = (review_year IS NOT NULL)", name='inspection_review_year_ck'),
    )
    op.create_index('inspection_employer_ix', 'inspection', ['employer_id', 'inspected_on'])
    op.create_index('inspection_grid_ix', 'inspection', ['grid_id'])
    op.create_index('inspection_one_review_ix', 'inspection', ['employer_id', 'review_year'], unique=True,
                    postgresql_where=sa.text("kind = 'review'"))
    op.create_table(
        'inspection_inspector',
        sa.Column('inspection_id', sa.Integer(), sa.ForeignKey('inspection.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('staff_id', sa.Integer(), sa.ForeignKey('staff.id'), primary_key=True),
    )
    op.create_table(
        'case_file',
        sa.Column('id', sa.Integer(), primary_key=True),
        # 立案号, e.g. 2026-0007: per year of filing
        sa.Column('number', sa.String(20), nullable=False, unique=True),
        sa.Column('source', sa.String(12), nullable=False),
        sa.Column('complaint_id', sa.Integer(), sa.ForeignKey('complaint.id'), nullable=True, unique=True),
        sa.Column('inspection_id', sa.Integer(), sa.ForeignKey('inspection.id'), nullable=True),
        sa.Column('employer_id', sa.BigInteger(), sa.ForeignKey('employer.id', ondelete='SET NULL'), nullable=True),
        sa.Column('employer_name', sa.String(200), nullable=False),
        sa.Column('grid_id', sa.Integer(), sa.ForeignKey('grid.id', ondelete='SET NULL'), nullable=True),
        sa.Column('summary', sa.Text(), nullable=False),
        # the 9 items (人社部规〔2016〕1号) the case is about
        sa.Column('items', postgresql.ARRAY(sa.String(20)), server_default='{}', nullable=False),
        sa.Column('status', sa.String(14), server_default='filed', nullable=False),
        sa.Column('filed_on', sa.Date(), nullable=False),
        sa.Column('filed_by', sa.String(200), nullable=False),
        sa.Column('extension_days', sa.SmallInteger(), server_default='0', nullable=False),
        sa.Column('extension_approver', sa.String(100), nullable=True),
        sa.Column('extension_reason', sa.String(500), nullable=True),
        sa.Column('extended_on', sa.Date(), nullable=True),
        sa.Column('conclusion', sa.String(20), nullable=True),
        # the serious acts found (any grades the employer C): group_incident, child_labour, …
        sa.Column('serious', postgresql.ARRAY(sa.String(20)), server_default='{}', nullable=False),
        sa.Column('conclusion_note', sa.Text(), nullable=True),
        sa.Column('closed_on', sa.Date(), nullable=True),
        sa.Column('closed_by', sa.String(200), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("source IN ('complaint', 'inspection', 'direct')", name='case_source_ck'),
        sa.CheckConstraint("(source = 'complaint') = (complaint_id IS NOT NULL)", name='case_complaint_ck'),
        sa.CheckConstraint("(source = 'inspection') = (inspection_id IS NOT NULL)", name='case_inspection_ck'),
        sa.CheckConstraint("status IN ('filed', 'investigating', 'handling', 'closed')", name='case_status_ck'),
        sa.CheckConstraint("extension_days IN (0, 30)", name='case_extension_ck'),
        sa.CheckConstraint("extension_days = 0 OR extension_approver IS NOT NULL", name='case_extension_approver_ck'),
        sa.CheckConstraint("(status = 'closed') = (conclusion IS NOT NULL AND closed_on IS NOT NULL)",
                           name='case_closed_ck'),
    )
    op.create_index('case_grid_ix', 'case_file', ['grid_id', 'status'])
    # the 立案号 counter per year: every case writer may count, whatever grids they see
    op.create_table(
        'case_counter',
        sa.Column('year', sa.SmallInteger(), primary_key=True),
        sa.Column('last', sa.Integer(), nullable=False),
    )
    op.create_index('case_employer_ix', 'case_file', ['employer_id', 'filed_on'])
    op.create_table(
        'case_inspector',
        sa.Column('case_id', sa.Integer(), sa.ForeignKey('case_file.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('staff_id', sa.Integer(), sa.ForeignKey('staff.id'), primary_key=True),
        sa.Column('lead', sa.Boolean(), server_default='false', nullable=False),
        sa.Column('added_by', sa.String(200), nullable=False),
        sa.Column('added_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    )
    op.create_table(
        'case_event',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('case_id', sa.Integer(), sa.ForeignKey('case_file.id', ondelete='CASCADE'), nullable=False),
        sa.Column('on_date', sa.Date(), nullable=False),
        sa.Column('action', sa.String(20), nullable=False),
        sa.Column('status', sa.String(14), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('actor', sa.String(200), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    )
    op.create_index('case_event_case_ix', 'case_event', ['case_id', 'id'])
    op.create_table(
        'case_document',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('case_id', sa.Integer(), sa.ForeignKey('case_file.id', ondelete='CASCADE'), nullable=False),
        sa.Column('title', sa.String(100), nullable=False),
        sa.Column('filename', sa.String(200), nullable=False),
        sa.Column('media_type', sa.String(100), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(64), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('uploaded_by', sa.String(200), nullable=False),
        sa.Column('uploaded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    )
    op.create_index('case_document_case_ix', 'case_document', ['case_id'])
    op.create_table(
        'rectification',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('employer_id', sa.BigInteger(), sa.ForeignKey('employer.id'), nullable=False),
        sa.Column('grid_id', sa.Integer(), sa.ForeignKey('grid.id', ondelete='SET NULL'), nullable=True),
        sa.Column('inspection_id', sa.Integer(), sa.ForeignKey('inspection.id', ondelete='CASCADE'), nullable=True),
        sa.Column('case_id', sa.Integer(), sa.ForeignKey('case_file.id', ondelete='CASCADE'), nullable=True),
        sa.Column('item', sa.String(20), nullable=False),
        sa.Column('order_text', sa.Text(), nullable=False),
        sa.Column('issued_on', sa.Date(), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('status', sa.String(10), server_default='open', nullable=False),
        sa.Column('settled_on', sa.Date(), nullable=True),
        sa.Column('settled_by', sa.String(200), nullable=True),
        sa.Column('entered_by', sa.String(200), nullable=False),
        sa.CheckConstraint("status IN ('open', 'done', 'refused')", name='rectification_status_ck'),
        sa.CheckConstraint("inspection_id IS NOT NULL OR case_id IS NOT NULL", name='rectification_source_ck'),
        sa.CheckConstraint("due_on >= issued_on", name='rectification_due_ck'),
    )
    op.create_index('rectification_employer_ix', 'rectification', ['employer_id', 'issued_on'])
    op.execute(POLICIES)


def downgrade() -> None:
    for table in ('rectification', 'case_document', 'case_event', 'case_inspector', 'case_counter', 'case_file',
                  'inspection_inspector', 'inspection'):
        op.drop_table(table)
