"""row-level security on employer data: the backstop of the web app's scope gate

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

The web app connects as a role that owns no table (gisgrid.db.roles), so these policies
apply to it; the owner (command line, imports, the export worker) is not affected.
Each web transaction sets two settings (gisgrid.web.db): ``gisgrid.scope`` = ``all`` for
a user who sees every grid, and ``gisgrid.grids`` = the comma-separated ids of the grids
an inspector may see. Without them — a query outside a logged-in request, or one that
forgot the gate — no employer row is visible at all.
"""
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

UPGRADE = """
CREATE FUNCTION gisgrid_sees_all() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
    RETURN coalesce(current_setting('gisgrid.scope', true), '') = 'all';
CREATE FUNCTION gisgrid_scope_grids() RETURNS integer[] LANGUAGE sql STABLE PARALLEL SAFE
    RETURN coalesce(string_to_array(nullif(current_setting('gisgrid.grids', true), ''), ',')::integer[],
                    '{}'::integer[]);

-- Each policy reads the settings once per query, not once per row: "(SELECT f())" is an
-- initplan, while a bare f() is inlined and evaluated row by row (string_to_array on every
-- row). The employer policy is an IN over the scope's assignments (one hashed subplan), not
-- a correlated EXISTS (one index probe per employer row): benchmarks/maps.py --scoped.
ALTER TABLE assignment ENABLE ROW LEVEL SECURITY;
CREATE POLICY assignment_scope ON assignment
    USING ((SELECT gisgrid_sees_all()) OR grid_id = ANY ((SELECT gisgrid_scope_grids())::integer[]));

ALTER TABLE employer ENABLE ROW LEVEL SECURITY;
CREATE POLICY employer_scope ON employer
    USING ((SELECT gisgrid_sees_all()) OR id IN (
        SELECT a.employer_id FROM assignment a WHERE a.grid_id = ANY ((SELECT gisgrid_scope_grids())::integer[])));

ALTER TABLE employer_survey ENABLE ROW LEVEL SECURITY;
CREATE POLICY employer_survey_scope ON employer_survey
    USING ((SELECT gisgrid_sees_all()) OR employer_id IN (SELECT e.id FROM employer e));

ALTER TABLE employer_grade ENABLE ROW LEVEL SECURITY;
CREATE POLICY employer_grade_scope ON employer_grade
    USING ((SELECT gisgrid_sees_all()) OR employer_id IN (SELECT e.id FROM employer e));

-- City-wide counts per map cell: only for users who see the whole city (a scoped user's
-- cells are counted from their own employers, gisgrid.maps.tiles).
ALTER TABLE employer_cell ENABLE ROW LEVEL SECURITY;
CREATE POLICY employer_cell_scope ON employer_cell USING ((SELECT gisgrid_sees_all()));
"""

# The cell triggers keep employer_cell right whoever changes employer: they write as the
# owner (SECURITY DEFINER), so an inspector's placement still moves its cell's count.
CELL_FUNCTIONS = ("employer_cells_add(integer[], integer[], integer[], integer[], integer[], integer[], "
                  "integer[], integer[], double precision[], double precision[])")

DOWNGRADE = """
DROP POLICY employer_cell_scope ON employer_cell;
ALTER TABLE employer_cell DISABLE ROW LEVEL SECURITY;
DROP POLICY employer_grade_scope ON employer_grade;
ALTER TABLE employer_grade DISABLE ROW LEVEL SECURITY;
DROP POLICY employer_survey_scope ON employer_survey;
ALTER TABLE employer_survey DISABLE ROW LEVEL SECURITY;
DROP POLICY employer_scope ON employer;
ALTER TABLE employer DISABLE ROW LEVEL SECURITY;
DROP POLICY assignment_scope ON assignment;
ALTER TABLE assignment DISABLE ROW LEVEL SECURITY;
DROP FUNCTION gisgrid_scope_grids();
DROP FUNCTION gisgrid_sees_all();
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar()
    op.execute(f'ALTER FUNCTION {CELL_FUNCTIONS} SECURITY DEFINER SET search_path = "{schema}", pg_temp')


def downgrade() -> None:
    op.execute(f"ALTER FUNCTION {CELL_FUNCTIONS} SECURITY INVOKER RESET search_path")
    op.execute(DOWNGRADE)
