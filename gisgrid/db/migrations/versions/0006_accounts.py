"""accounts: who may log in, their server-side sessions, login attempts; audit with address

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('app_user', sa.Column('staff_id', sa.Integer(),
                                        sa.ForeignKey('staff.id', ondelete='SET NULL'), nullable=True))
    op.add_column('app_user', sa.Column('must_change_password', sa.Boolean(), server_default='true',
                                        nullable=False))
    op.add_column('app_user', sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('app_user', sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                                        nullable=False))
    op.create_check_constraint('app_user_role_ck', 'app_user',
                               "role IN ('admin', 'planner', 'leader', 'inspector')")
    op.create_index('app_user_staff_ix', 'app_user', ['staff_id'])
    # A session is known by the SHA-256 of its token: the cookie's value never rests in the database.
    op.create_table(
        'user_session',
        sa.Column('id', sa.String(64), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('app_user.id', ondelete='CASCADE'), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('address', sa.String(64), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_why', sa.String(40), nullable=True),
    )
    op.create_index('user_session_user_ix', 'user_session', ['user_id'])
    op.create_table(
        'login_attempt',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('username', sa.String(50), nullable=False),
        sa.Column('address', sa.String(64), nullable=True),
        sa.Column('ok', sa.Boolean(), nullable=False),
    )
    op.create_index('login_attempt_user_ix', 'login_attempt', ['username', 'at'])
    op.create_index('login_attempt_address_ix', 'login_attempt', ['address', 'at'])
    op.add_column('audit_log', sa.Column('address', sa.String(64), nullable=True))
    op.create_index('audit_log_at_ix', 'audit_log', ['at'])
    op.create_index('audit_log_actor_ix', 'audit_log', ['actor', 'at'])


def downgrade() -> None:
    op.drop_index('audit_log_actor_ix', 'audit_log')
    op.drop_index('audit_log_at_ix', 'audit_log')
    op.drop_column('audit_log', 'address')
    op.drop_table('login_attempt')
    op.drop_table('user_session')
    op.drop_index('app_user_staff_ix', 'app_user')
    op.drop_constraint('app_user_role_ck', 'app_user')
    for column in ('created_at', 'password_changed_at', 'must_change_password', 'staff_id'):
        op.drop_column('app_user', column)
