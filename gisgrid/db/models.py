"""The data model (DESIGN.md): generations of grids, employers, assignments, staff.

Every geometry is stored in CGCS2000 (EPSG:4490). Metric work reprojects to the
Gauss–Krüger zone of the data, never computes in degrees.
"""

from __future__ import annotations

import datetime as dt
import uuid

from geoalchemy2 import Geometry
from sqlalchemy import (
    JSON, BigInteger, Boolean, CheckConstraint, Date, DateTime, Float, ForeignKey, Index, Integer,
    SmallInteger, String, Text, UniqueConstraint, func, text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SRID = 4490
GENERATION_STATUSES = ("draft", "active", "retired", "scheduled")
GRID_KINDS = ("city", "district", "street", "town", "township", "park", "community", "village", "grid")


class Base(DeclarativeBase):
    pass


class Generation(Base):
    """A version of the whole grid set; exactly one is active."""

    __tablename__ = "generation"
    __table_args__ = (
        CheckConstraint(f"status IN {GENERATION_STATUSES}", name="generation_status_ck"),
        Index("generation_one_active", "status", unique=True, postgresql_where=text("status = 'active'")),
        Index("generation_one_scheduled", "status", unique=True, postgresql_where=text("status = 'scheduled'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="draft", server_default="draft")
    effective_from: Mapped[dt.date | None] = mapped_column(Date)
    effective_to: Mapped[dt.date | None] = mapped_column(Date)
    approved_by: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    #: The generation a draft was copied from (gisgrid grids draft NAME --from …), if any.
    source_id: Mapped[int | None] = mapped_column(ForeignKey("generation.id", ondelete="SET NULL",
                                                             name="generation_source_fk"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    grids: Mapped[list["Grid"]] = relationship(back_populates="generation")


class Grid(Base):
    """One coded grid of one generation (level 1 = the whole city, deeper = finer)."""

    __tablename__ = "grid"
    __table_args__ = (
        UniqueConstraint("generation_id", "code", name="grid_generation_code_uq"),
        CheckConstraint("level BETWEEN 1 AND 6", name="grid_level_ck"),
        CheckConstraint(f"kind IN {GRID_KINDS}", name="grid_kind_ck"),
        Index("grid_geom_gix", "geom", postgresql_using="gist"),
        Index("grid_identity_ix", "identity"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("generation.id", ondelete="CASCADE"))
    # Survives generations: a grid whose code and geometry did not change keeps it.
    identity: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), default=uuid.uuid4)
    level: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id", ondelete="CASCADE"), index=True)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=False)
    source_crs: Mapped[str | None] = mapped_column(String(40))
    source_file: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    generation: Mapped[Generation] = relationship(back_populates="grids")


class GridLineage(Base):
    """Which grids of an earlier generation a grid was split or merged from."""

    __tablename__ = "grid_lineage"

    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id", ondelete="CASCADE"), primary_key=True)
    source_identity: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    relation: Mapped[str] = mapped_column(String(10))  # split | merge | reshape


class Employer(Base):
    """An employer (用人单位): the current record; surveys keep the history."""

    __tablename__ = "employer"
    __table_args__ = (
        Index("employer_geom_gix", "geom", postgresql_using="gist"),
        Index("employer_credit_code_uq", "credit_code", unique=True,
              postgresql_where=text("credit_code IS NOT NULL")),
        CheckConstraint("risk_level BETWEEN 0 AND 3", name="employer_risk_level_ck"),
        Index("employer_name_key_ix", "name_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    credit_code: Mapped[str | None] = mapped_column(String(18))
    org_code: Mapped[str | None] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(Text)
    legal_rep: Mapped[str | None] = mapped_column(String(50))
    hr_contact: Mapped[str | None] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(40))
    industry: Mapped[str | None] = mapped_column(String(60))
    ownership: Mapped[str | None] = mapped_column(String(60))
    headcount: Mapped[int | None] = mapped_column(Integer)
    contracts_signed: Mapped[int | None] = mapped_column(Integer)
    insured: Mapped[int | None] = mapped_column(Integer)
    wage_arrears_months: Mapped[int | None] = mapped_column(SmallInteger)
    fee_arrears_months: Mapped[int | None] = mapped_column(SmallInteger)
    opened_on: Mapped[dt.date | None] = mapped_column(Date)
    surveyed_on: Mapped[dt.date | None] = mapped_column(Date)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False))
    source_crs: Mapped[str | None] = mapped_column(String(40))
    located_by: Mapped[str] = mapped_column(String(20), default="none", server_default="none")
    location_precision: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="active", server_default="active")
    risk_level: Mapped[int | None] = mapped_column(SmallInteger)
    risk_rule: Mapped[str | None] = mapped_column(Text)
    # valid | check_failed (GB 32100 check failed: kept and warned) | accepted (overridden with a reason)
    credit_code_status: Mapped[str | None] = mapped_column(String(20))
    integrity_grade: Mapped[str | None] = mapped_column(String(1))   # latest grade; per year in employer_grade
    grade_year: Mapped[int | None] = mapped_column(SmallInteger)
    complaints_12m: Mapped[int | None] = mapped_column(SmallInteger)
    key_flags: Mapped[str | None] = mapped_column(Text)               # 重点监管 reasons, "；"-joined
    located_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    placed_by: Mapped[str | None] = mapped_column(String(100))        # who placed it by hand
    name_key: Mapped[str | None] = mapped_column(Text)               # normalised name + address
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EmployerSurvey(Base):
    """One survey of one employer (一企一档): the record as surveyed that day."""

    __tablename__ = "employer_survey"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # No foreign key on purpose (migration 0002): checked per row it cost more than the bulk
    # insert; a statement-level trigger deletes surveys and grades with their employer.
    employer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    surveyed_on: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(Text)
    # json, not jsonb (migration 0004): written in bulk, read whole, never queried inside.
    data: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EmployerGrade(Base):
    """An integrity grade (守法诚信等级) of one employer for one year."""

    __tablename__ = "employer_grade"

    employer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # no FK: see EmployerSurvey
    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    grade: Mapped[str] = mapped_column(String(1))
    source: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CreditCodeAcceptance(Base):
    """A credit code that fails the GB 32100 check, accepted by a person with a reason."""

    __tablename__ = "credit_code_acceptance"

    credit_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    accepted_by: Mapped[str] = mapped_column(String(100))
    accepted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EmployerCell(Base):
    """Located employers counted per map cell, for the vector tiles below zoom 13.

    Kept by statement-level triggers on ``employer`` (migration 0003), never written by
    the application; ``employer_cells_rebuild()`` counts everything again. ``cx``/``cy``
    are web-Mercator pixel indices at zoom ``z + 6`` (tile ``z/x/y`` holds ``cx`` 64x to
    64x + 63); ``sx``/``sy`` sum the EPSG:3857 metres of the employers, for their mean.
    """

    __tablename__ = "employer_cell"
    __table_args__ = (CheckConstraint("z BETWEEN 0 AND 12", name="employer_cell_z_ck"),)

    z: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    cx: Mapped[int] = mapped_column(Integer, primary_key=True)
    cy: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    r3: Mapped[int] = mapped_column(Integer)
    r2: Mapped[int] = mapped_column(Integer)
    r1: Mapped[int] = mapped_column(Integer)
    r0: Mapped[int] = mapped_column(Integer)
    unrated: Mapped[int] = mapped_column(Integer)
    sx: Mapped[float] = mapped_column(Float(precision=53))
    sy: Mapped[float] = mapped_column(Float(precision=53))


class Assignment(Base):
    """Employer → finest grid, per generation (NULL grid: outside every grid).

    Partitioned by generation so that reassigning a whole generation builds a
    fresh partition and swaps it in (bulk index builds, no per-row index upkeep,
    no dead rows). There are no foreign keys on purpose: checking three of them
    per row made writing 1M assignments 6× slower. Rows are only ever written by
    :mod:`gisgrid.analysis.assign` from ids it has just joined, and statement-level
    triggers (migration 0001) delete them with their employer, grid or generation.
    """

    __tablename__ = "assignment"
    __table_args__ = (
        Index("assignment_grid_ix", "grid_id"),  # one generation per partition
        {"postgresql_partition_by": "LIST (generation_id)"},
    )

    employer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    generation_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_id: Mapped[int | None] = mapped_column(Integer)
    tie: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    nearest_grid_id: Mapped[int | None] = mapped_column(Integer)
    distance_m: Mapped[float | None] = mapped_column(Float)
    assigned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Staff(Base):
    """A person who answers for grids (专职/兼职监察员, 协管员)."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    role: Mapped[str] = mapped_column(String(20))  # full_time | part_time | coordinator
    phone: Mapped[str | None] = mapped_column(String(40))
    unit: Mapped[str | None] = mapped_column(String(100))


class StaffGrid(Base):
    """四定: fixed person, area (grid identity), duty and task, from/to."""

    __tablename__ = "staff_grid"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    grid_identity: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    duty: Mapped[str | None] = mapped_column(Text)
    task: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)


class AppUser(Base):
    """An account: role and the grid scope it may see or edit."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(50))
    role: Mapped[str] = mapped_column(String(20))  # admin | planner | inspector | leader
    scope_code: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    #: An inspector's account is a 四定 staff member: their staff_grid rows are the scope.
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"), index=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UserSession(Base):
    """A server-side login session, known by the SHA-256 of its cookie token."""

    __tablename__ = "user_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    address: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_why: Mapped[str | None] = mapped_column(String(40))


class LoginAttempt(Base):
    """One login attempt, kept for throttling and the audit page."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    username: Mapped[str] = mapped_column(String(50))
    address: Mapped[str | None] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column(Boolean)


class AuditLog(Base):
    """Who changed what, with the record before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    entity: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[str | None] = mapped_column(String(100))
    before: Mapped[dict | None] = mapped_column(JSONB)
    after: Mapped[dict | None] = mapped_column(JSONB)
    address: Mapped[str | None] = mapped_column(String(64))
