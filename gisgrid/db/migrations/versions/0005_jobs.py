"""background jobs: the procrastinate queue and the export jobs with their results

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# The queue is procrastinate's own schema (tables, types, functions and the NOTIFY triggers
# the worker listens on), exactly as the installed package ships it: its SQL is the contract
# between the package's Python side and the database. setup.cfg pins procrastinate to 3.x,
# whose newest schema migration is 03.04.00 (gisgrid.jobs.queue.PROCRASTINATE_SCHEMA, checked
# by tests/jobs/test_queue.py): a procrastinate release that ships a newer one needs a new
# Alembic revision applying its files from procrastinate/sql/migrations.
QUEUE_TYPES = ('procrastinate_job_status', 'procrastinate_job_event_type', 'procrastinate_job_to_defer_v1')
QUEUE_TABLES = ('procrastinate_events', 'procrastinate_periodic_defers', 'procrastinate_jobs',
                'procrastinate_workers')


def upgrade() -> None:
    from procrastinate.schema import SchemaManager

    # Straight through the driver's cursor, without parameters, so that psycopg2 sends the
    # text as it is (the schema's RAISE messages hold PL/pgSQL's '%' placeholders).
    with op.get_bind().connection.dbapi_connection.cursor() as cursor:
        cursor.execute(SchemaManager.get_schema())
    op.create_table(
        'export_job',
        sa.Column('id', sa.BigInteger, primary_key=True),
        sa.Column('kind', sa.String(20), nullable=False),
        sa.Column('params', postgresql.JSONB, nullable=False),
        # What the result depends on: the data (generation, grids, employers, assignment,
        # staff), the settings that change the output and the parameters (gisgrid.jobs.digest).
        sa.Column('digest', sa.String(64), nullable=False),
        sa.Column('requester', sa.Text, nullable=False),
        sa.Column('status', sa.String(10), nullable=False, server_default='queued'),
        sa.Column('step', sa.SmallInteger, nullable=False, server_default='0'),
        sa.Column('steps', sa.SmallInteger, nullable=False, server_default='1'),
        sa.Column('step_label', sa.Text),
        sa.Column('error', sa.Text),
        sa.Column('queue_job_id', sa.BigInteger,
                  sa.ForeignKey('procrastinate_jobs.id', ondelete='SET NULL')),
        sa.Column('file_name', sa.Text),
        sa.Column('file_path', sa.Text),
        sa.Column('size', sa.BigInteger),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.text('now()')),
        sa.Column('started_at', sa.DateTime(timezone=True)),
        sa.Column('finished_at', sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name='export_job_status_ck'),
        sa.CheckConstraint("kind IN ('package', 'atlas', 'diagram', 'register')", name='export_job_kind_ck'),
    )
    # The cache lookup (a done result of this kind and digest) and the per-client limit
    # (the requester's queued and running jobs) each read one small index.
    op.create_index('export_job_done_ix', 'export_job', ['kind', 'digest'],
                    postgresql_where=sa.text("status = 'done'"))
    op.create_index('export_job_open_ix', 'export_job', ['requester'],
                    postgresql_where=sa.text("status IN ('queued', 'running')"))
    op.create_index('export_job_queue_ix', 'export_job', ['queue_job_id'])


def downgrade() -> None:
    op.drop_table('export_job')
    for table in QUEUE_TABLES:
        op.execute(f'DROP TABLE IF EXISTS {table} CASCADE')
    op.execute("""
        DO $$
        DECLARE routine regprocedure;
        BEGIN
            FOR routine IN SELECT p.oid::regprocedure FROM pg_proc p
                           JOIN pg_namespace n ON n.oid = p.pronamespace
                           WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE 'DROP ROUTINE ' || routine || ' CASCADE';
            END LOOP;
        END $$""")
    op.execute('DROP TYPE IF EXISTS ' + ', '.join(QUEUE_TYPES) + ' CASCADE')
