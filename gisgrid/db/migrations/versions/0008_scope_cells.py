"""the scope on the employer row, and map cells per grid: row-level security at the cost of a column test

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

Measured with benchmarks/maps.py --scoped (200,000 employers, street 419901001 with 41,650
of them) the scope cost the inspector 1.13–1.31× the admin's p95 on pages, GeoJSON and z14
tiles, and 10–13× on the city-zoom tiles. Two causes:

- the employer policy of 0007 is ``id IN (the scope's assignments)``: every statement that
  reads employer builds a hash of the scope's assignment rows first (41,650 index probes,
  ~20 ms), whatever the statement reads;
- below z13 a scoped user's cells were counted on request from their employers (every one
  of them read through the GiST index and the policy: ~250 ms), because employer_cell is
  city-wide.

So here:

- ``employer.grid_id``: the employer's finest grid in the active generation, a copy of its
  ``assignment`` row (NULL when it has none). The employer policy tests it against the
  scope's grid ids (``grid_id = ANY(scope)``: one comparison per row, no subquery). It
  follows ``assignment`` through statement-level triggers (every insert, update, delete
  and truncate through the table ``assignment``, whoever writes it); the bulk reassignment
  swaps a whole partition in (ATTACH PARTITION fires no trigger), so it calls
  ``employer_grids_follow()`` itself (gisgrid.analysis.assign); an activation follows the
  new generation's assignments at once when it has any (a trigger on ``generation``).
  Right after an activation whose generation has no assignments yet (``grids activate``
  reassigns next, in the same transaction) the column still names grids of the retired
  generation: no scope holds those, so that state hides, never shows.
  The web role cannot write the column itself (a trigger refuses, ``row_security_active``).
- ``employer_grid_cell``: the counts of employer_cell (migration 0003) per grid as well,
  keyed (grid_id, z, cx, cy), kept by statement-level triggers on ``employer`` from
  (grid_id, geom, risk_level), as employer_cell is from (geom, risk_level). A scoped tile
  sums the rows of its grids only (gisgrid.maps.tiles). Readable by the web role only for
  the grids of its scope (or all, for a user who sees all); it writes none (no policy for
  writes: default deny; the triggers write as the owner).
"""
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# --- employer.grid_id follows assignment -----------------------------------------------

FOLLOW = """
ALTER TABLE employer ADD COLUMN grid_id integer;
COMMENT ON COLUMN employer.grid_id IS
    'Finest grid in the active generation: a copy of assignment kept by triggers (migration 0008); '
    'the row-level security policy tests it. Never written directly.';

-- Sets grid_id from the active generation's assignment for the employers ids (NULL: all)
-- and returns how many rows changed; rows already right are not rewritten.
CREATE FUNCTION employer_grids_follow(ids bigint[]) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    active integer := (SELECT id FROM generation WHERE status = 'active');
    changed bigint;
BEGIN
    IF ids IS NULL THEN
        UPDATE employer e SET grid_id = f.grid_id
        FROM (SELECT x.id, a.grid_id FROM employer x
              LEFT JOIN assignment a ON a.employer_id = x.id AND a.generation_id = active
              WHERE x.grid_id IS DISTINCT FROM a.grid_id) f
        WHERE e.id = f.id;
    ELSE
        UPDATE employer e SET grid_id = f.grid_id
        -- A join, not x.id = ANY(ids): a long array as a parameter is searched element by
        -- element for every row the plan reads.
        FROM (SELECT x.id, a.grid_id FROM unnest(ids) AS i(id) JOIN employer x ON x.id = i.id
              LEFT JOIN assignment a ON a.employer_id = x.id AND a.generation_id = active
              WHERE x.grid_id IS DISTINCT FROM a.grid_id) f
        WHERE e.id = f.id;
    END IF;
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END $$;
"""

# One function per transition table (a trigger function names the tables it reads). Only
# rows of the active generation matter; a draft's assignments change nothing here.
_FOLLOW_ROWS = """
CREATE FUNCTION employer_grids_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    SELECT array_agg(DISTINCT employer_id) INTO ids FROM ({rows}) r
    WHERE generation_id = (SELECT id FROM generation WHERE status = 'active');
    IF ids IS NOT NULL THEN
        PERFORM employer_grids_follow(ids);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER employer_grids_{name} AFTER {event} ON assignment
    REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION employer_grids_{name}();
"""
FOLLOW_TRIGGERS = "".join(_FOLLOW_ROWS.format(name=name, event=event, rows=rows, tables=tables) for name, event, rows, tables in (
    ("assigned", "INSERT", "SELECT employer_id, generation_id FROM new_rows", "NEW TABLE AS new_rows"),
    ("unassigned", "DELETE", "SELECT employer_id, generation_id FROM old_rows", "OLD TABLE AS old_rows"),
    ("reassigned", "UPDATE", "SELECT employer_id, generation_id FROM old_rows UNION ALL "
                             "SELECT employer_id, generation_id FROM new_rows",
     "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
)) + """
CREATE FUNCTION employer_grids_cleared() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM employer_grids_follow(NULL);
    RETURN NULL;
END $$;
CREATE TRIGGER employer_grids_cleared AFTER TRUNCATE ON assignment
    FOR EACH STATEMENT EXECUTE FUNCTION employer_grids_cleared();

-- Another generation became active (or none is): follow its assignments when it has any.
-- An activation runs two updates (the old one retired, then the draft made active), and
-- the draft usually has no assignments yet: following then would rewrite every employer
-- twice for nothing before the reassignment rewrites them again.
CREATE FUNCTION employer_grids_activated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM old_rows o FULL JOIN new_rows n ON n.id = o.id
               WHERE (o.status = 'active') IS DISTINCT FROM (n.status = 'active'))
       AND EXISTS (SELECT FROM assignment
                   WHERE generation_id = (SELECT id FROM generation WHERE status = 'active')) THEN
        PERFORM employer_grids_follow(NULL);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER employer_grids_activated AFTER UPDATE ON generation
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION employer_grids_activated();

-- The web role (subject to row-level security; the owner and the triggers above are not)
-- may not set grid_id: it would move an employer into another grid of its scope, and so
-- into another user's. A WHEN clause, so that no function runs for other writes.
CREATE FUNCTION employer_grid_refused() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'employer.grid_id follows the employer''s assignment (migration 0008); it is not written directly'
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER employer_grid_refused_update BEFORE UPDATE OF grid_id ON employer FOR EACH ROW
    WHEN (NEW.grid_id IS DISTINCT FROM OLD.grid_id AND row_security_active('employer'::regclass::oid))
    EXECUTE FUNCTION employer_grid_refused();
CREATE TRIGGER employer_grid_refused_insert BEFORE INSERT ON employer FOR EACH ROW
    WHEN (NEW.grid_id IS NOT NULL AND row_security_active('employer'::regclass::oid))
    EXECUTE FUNCTION employer_grid_refused();
"""

# The web role inserts and deletes assignments (a placement by hand): the triggers update
# employer as the owner. search_path pinned, as for every SECURITY DEFINER function.
DEFINERS = ("employer_grids_assigned()", "employer_grids_unassigned()", "employer_grids_reassigned()",
            "employer_grids_cleared()", "employer_grids_activated()",
            "employer_grid_cells_inserted()", "employer_grid_cells_deleted()",
            "employer_grid_cells_updated()", "employer_grid_cells_truncated()")

# --- employer_grid_cell: employer_cell per grid ------------------------------------------

GRID_CELLS = """
CREATE TABLE employer_grid_cell (
    grid_id integer NOT NULL,
    z smallint NOT NULL CONSTRAINT employer_grid_cell_z_ck CHECK (z BETWEEN 0 AND 12),
    cx integer NOT NULL,
    cy integer NOT NULL,
    count integer NOT NULL,
    r3 integer NOT NULL,
    r2 integer NOT NULL,
    r1 integer NOT NULL,
    r0 integer NOT NULL,
    unrated integer NOT NULL,
    sx double precision NOT NULL,
    sy double precision NOT NULL,
    -- A scoped tile reads one zoom, the grids of its scope and a range of cx: one index
    -- descent per grid of the scope.
    CONSTRAINT employer_grid_cell_pkey PRIMARY KEY (z, grid_id, cx, cy)
);

-- As employer_cells_add (migration 0003), per grid: the zoom-12 delta rolled up to every
-- zoom, written in key order (no deadlock between two writers), emptied cells deleted.
CREATE FUNCTION employer_grid_cells_add(d_grid integer[], d_cx integer[], d_cy integer[], d_count integer[],
        d_r3 integer[], d_r2 integer[], d_r1 integer[], d_r0 integer[], d_unrated integer[],
        d_sx double precision[], d_sy double precision[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    gone_z smallint[];
    gone_g integer[];
    gone_x integer[];
    gone_y integer[];
BEGIN
    WITH l12 AS (
        SELECT 12 AS z, * FROM unnest(d_grid, d_cx, d_cy, d_count, d_r3, d_r2, d_r1, d_r0, d_unrated,
                                      d_sx, d_sy) AS d(grid_id, cx, cy, count, r3, r2, r1, r0, unrated, sx, sy)
    ),
{rollups},
    levels AS (
        {levels}
    ),
    written AS (
        INSERT INTO employer_grid_cell AS c (z, grid_id, cx, cy, count, r3, r2, r1, r0, unrated, sx, sy)
        SELECT * FROM levels
        WHERE (count, r3, r2, r1, r0, unrated, sx, sy) <> (0, 0, 0, 0, 0, 0, 0.0, 0.0)
        ORDER BY z, grid_id, cx, cy
        ON CONFLICT (z, grid_id, cx, cy) DO UPDATE SET
            count = c.count + excluded.count, r3 = c.r3 + excluded.r3, r2 = c.r2 + excluded.r2,
            r1 = c.r1 + excluded.r1, r0 = c.r0 + excluded.r0,
            unrated = c.unrated + excluded.unrated,
            sx = CASE WHEN c.count + excluded.count = 0 THEN 0 ELSE c.sx + excluded.sx END,
            sy = CASE WHEN c.count + excluded.count = 0 THEN 0 ELSE c.sy + excluded.sy END
        RETURNING c.z, c.grid_id, c.cx, c.cy, c.count
    )
    SELECT array_agg(z), array_agg(grid_id), array_agg(cx), array_agg(cy) INTO gone_z, gone_g, gone_x, gone_y
    FROM written WHERE count = 0;
    IF gone_z IS NOT NULL THEN
        DELETE FROM employer_grid_cell c USING unnest(gone_z, gone_g, gone_x, gone_y) AS g(z, grid_id, cx, cy)
        WHERE c.z = g.z AND c.grid_id = g.grid_id AND c.cx = g.cx AND c.cy = g.cy AND c.count = 0;
    END IF;
END $$;
"""
_ROLLUP = """
    l{z} AS (
        SELECT {z} AS z, grid_id, cx >> 1 AS cx, cy >> 1 AS cy, sum(count)::integer AS count,
               sum(r3)::integer AS r3, sum(r2)::integer AS r2, sum(r1)::integer AS r1,
               sum(r0)::integer AS r0, sum(unrated)::integer AS unrated, sum(sx) AS sx, sum(sy) AS sy
        FROM l{finer} GROUP BY 2, 3, 4
    )"""
GRID_CELLS = GRID_CELLS.replace("{rollups}", ",".join(_ROLLUP.format(z=z, finer=z + 1) for z in range(11, -1, -1)))
GRID_CELLS = GRID_CELLS.replace("{levels}", "\n        UNION ALL ".join(
    f"SELECT z::smallint, grid_id, cx, cy, count, r3, r2, r1, r0, unrated, sx, sy FROM l{z}" for z in range(13)))

# The zoom-12 delta of signed rows (sign, grid_id, geom, risk_level); rows without a grid or
# a location count in no grid's cells. OFFSET 0 as in 0003: each step once per row.
_DELTA = """
    SELECT array_agg(grid_id), array_agg(cx), array_agg(cy), array_agg(count), array_agg(r3),
           array_agg(r2), array_agg(r1), array_agg(r0), array_agg(unrated), array_agg(sx), array_agg(sy)
    INTO d_grid, d_cx, d_cy, d_count, d_r3, d_r2, d_r1, d_r0, d_unrated, d_sx, d_sy
    FROM (
        SELECT grid_id, employer_cell_column(mx) AS cx, employer_cell_row(my) AS cy,
               sum(sign)::integer AS count,
               coalesce(sum(sign) FILTER (WHERE risk_level = 3), 0)::integer AS r3,
               coalesce(sum(sign) FILTER (WHERE risk_level = 2), 0)::integer AS r2,
               coalesce(sum(sign) FILTER (WHERE risk_level = 1), 0)::integer AS r1,
               coalesce(sum(sign) FILTER (WHERE risk_level = 0), 0)::integer AS r0,
               coalesce(sum(sign) FILTER (WHERE risk_level IS NULL), 0)::integer AS unrated,
               sum(sign * mx) AS sx, sum(sign * my) AS sy
        FROM (SELECT sign, grid_id, risk_level, web_mercator_x(lon) AS mx, web_mercator_y(lat) AS my
              FROM (SELECT sign, grid_id, risk_level, ST_X(geom) AS lon, ST_Y(geom) AS lat
                    FROM ({rows}) r WHERE geom IS NOT NULL AND grid_id IS NOT NULL OFFSET 0) l
              OFFSET 0) p
        GROUP BY 1, 2, 3
    ) d;
    IF d_cx IS NOT NULL THEN
        PERFORM employer_grid_cells_add(d_grid, d_cx, d_cy, d_count, d_r3, d_r2, d_r1, d_r0, d_unrated,
                                        d_sx, d_sy);
    END IF;
"""
_DECLARE = """
DECLARE
    d_grid integer[]; d_cx integer[]; d_cy integer[]; d_count integer[]; d_r3 integer[];
    d_r2 integer[]; d_r1 integer[]; d_r0 integer[]; d_unrated integer[];
    d_sx double precision[]; d_sy double precision[];
"""
GRID_CELL_TRIGGERS = f"""
CREATE FUNCTION employer_grid_cells_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
{_DECLARE}
BEGIN
{_DELTA.format(rows="SELECT 1 AS sign, grid_id, geom, risk_level FROM new_rows WHERE grid_id IS NOT NULL")}
    RETURN NULL;
END $$;
CREATE TRIGGER employer_grid_cells_inserted AFTER INSERT ON employer
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION employer_grid_cells_inserted();

CREATE FUNCTION employer_grid_cells_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
{_DECLARE}
BEGIN
{_DELTA.format(rows="SELECT -1 AS sign, grid_id, geom, risk_level FROM old_rows WHERE grid_id IS NOT NULL")}
    RETURN NULL;
END $$;
CREATE TRIGGER employer_grid_cells_deleted AFTER DELETE ON employer
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION employer_grid_cells_deleted();

-- Only rows whose grid, location or risk level changed (the register merge rewrites other
-- columns of many rows); rows without a grid before and after are skipped at once. Both
-- sides come from the one full join: "id IN (SELECT id FROM changed)", as in 0003, is a
-- plain subplan once the changed ids outgrow work_mem (a hash of 200,000 does), and every
-- row then scanned all of them (an activation's 200,000 rows ran for over 15 minutes).
CREATE FUNCTION employer_grid_cells_updated() RETURNS trigger LANGUAGE plpgsql AS $$
{_DECLARE}
BEGIN
{_DELTA.format(rows='''
        WITH changed AS (
            SELECT o.grid_id AS old_grid, o.geom AS old_geom, o.risk_level AS old_risk,
                   n.grid_id AS new_grid, n.geom AS new_geom, n.risk_level AS new_risk
            FROM (SELECT id, grid_id, geom, risk_level FROM old_rows WHERE grid_id IS NOT NULL) o
            FULL JOIN (SELECT id, grid_id, geom, risk_level FROM new_rows WHERE grid_id IS NOT NULL) n
                ON n.id = o.id
            WHERE o.id IS NULL OR n.id IS NULL OR o.grid_id IS DISTINCT FROM n.grid_id
               OR o.risk_level IS DISTINCT FROM n.risk_level
               OR (ST_X(o.geom), ST_Y(o.geom)) IS DISTINCT FROM (ST_X(n.geom), ST_Y(n.geom))
        )
        SELECT -1 AS sign, old_grid AS grid_id, old_geom AS geom, old_risk AS risk_level FROM changed
        WHERE old_grid IS NOT NULL
        UNION ALL
        SELECT 1, new_grid, new_geom, new_risk FROM changed WHERE new_grid IS NOT NULL''')}
    RETURN NULL;
END $$;
CREATE TRIGGER employer_grid_cells_updated AFTER UPDATE ON employer
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION employer_grid_cells_updated();

CREATE FUNCTION employer_grid_cells_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM employer_grid_cell) THEN
        TRUNCATE employer_grid_cell;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER employer_grid_cells_truncated AFTER TRUNCATE ON employer
    FOR EACH STATEMENT EXECUTE FUNCTION employer_grid_cells_truncated();

-- Everything again from employer: for this migration and as a repair
-- (gisgrid.maps.tiles.rebuild_employer_cells). Returns the employers counted.
CREATE FUNCTION employer_grid_cells_rebuild() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    counted bigint;
BEGIN
    LOCK TABLE employer IN SHARE MODE;
    TRUNCATE employer_grid_cell;
    INSERT INTO employer_grid_cell (z, grid_id, cx, cy, count, r3, r2, r1, r0, unrated, sx, sy)
    SELECT 12, grid_id, employer_cell_column(mx), employer_cell_row(my), count(*),
           count(*) FILTER (WHERE risk_level = 3), count(*) FILTER (WHERE risk_level = 2),
           count(*) FILTER (WHERE risk_level = 1), count(*) FILTER (WHERE risk_level = 0),
           count(*) FILTER (WHERE risk_level IS NULL), sum(mx), sum(my)
    FROM (SELECT grid_id, risk_level, web_mercator_x(lon) AS mx, web_mercator_y(lat) AS my
          FROM (SELECT grid_id, risk_level, ST_X(geom) AS lon, ST_Y(geom) AS lat
                FROM employer WHERE geom IS NOT NULL AND grid_id IS NOT NULL OFFSET 0) l
          OFFSET 0) e
    GROUP BY 2, 3, 4;
    FOR zoom IN REVERSE 11..0 LOOP
        INSERT INTO employer_grid_cell (z, grid_id, cx, cy, count, r3, r2, r1, r0, unrated, sx, sy)
        SELECT zoom, grid_id, cx >> 1, cy >> 1, sum(count), sum(r3), sum(r2), sum(r1), sum(r0),
               sum(unrated), sum(sx), sum(sy)
        FROM employer_grid_cell WHERE z = zoom + 1
        GROUP BY 2, 3, 4;
    END LOOP;
    SELECT coalesce(sum(count), 0) INTO counted FROM employer_grid_cell WHERE z = 0;
    RETURN counted;
END $$;
"""

# --- the policies ------------------------------------------------------------------------

POLICIES = """
DROP POLICY employer_scope ON employer;
CREATE POLICY employer_scope ON employer
    USING ((SELECT gisgrid_sees_all()) OR grid_id = ANY ((SELECT gisgrid_scope_grids())::integer[]));

ALTER TABLE employer_grid_cell ENABLE ROW LEVEL SECURITY;
CREATE POLICY employer_grid_cell_scope ON employer_grid_cell FOR SELECT
    USING ((SELECT gisgrid_sees_all()) OR grid_id = ANY ((SELECT gisgrid_scope_grids())::integer[]));
"""

DOWNGRADE = """
DROP POLICY employer_scope ON employer;
CREATE POLICY employer_scope ON employer
    USING ((SELECT gisgrid_sees_all()) OR id IN (
        SELECT a.employer_id FROM assignment a WHERE a.grid_id = ANY ((SELECT gisgrid_scope_grids())::integer[])));
DROP TRIGGER employer_grid_cells_inserted ON employer;
DROP TRIGGER employer_grid_cells_deleted ON employer;
DROP TRIGGER employer_grid_cells_updated ON employer;
DROP TRIGGER employer_grid_cells_truncated ON employer;
DROP TRIGGER employer_grid_refused_update ON employer;
DROP TRIGGER employer_grid_refused_insert ON employer;
DROP TRIGGER employer_grids_assigned ON assignment;
DROP TRIGGER employer_grids_unassigned ON assignment;
DROP TRIGGER employer_grids_reassigned ON assignment;
DROP TRIGGER employer_grids_cleared ON assignment;
DROP TRIGGER employer_grids_activated ON generation;
DROP FUNCTION employer_grid_cells_inserted(), employer_grid_cells_deleted(), employer_grid_cells_updated(),
    employer_grid_cells_truncated(), employer_grid_cells_rebuild(),
    employer_grid_cells_add(integer[], integer[], integer[], integer[], integer[], integer[], integer[],
                            integer[], integer[], double precision[], double precision[]),
    employer_grids_assigned(), employer_grids_unassigned(), employer_grids_reassigned(),
    employer_grids_cleared(), employer_grids_activated(), employer_grid_refused(),
    employer_grids_follow(bigint[]);
DROP TABLE employer_grid_cell;
ALTER TABLE employer DROP COLUMN grid_id;
"""


def upgrade() -> None:
    op.execute(FOLLOW)
    op.execute(GRID_CELLS)
    # A database with data: every employer takes its grid first, before the per-grid cell
    # triggers exist (they would count 1M rows one delta at a time), then the cells are
    # counted once from scratch; the assignment triggers come last.
    op.execute("SELECT employer_grids_follow(NULL)")
    op.execute(GRID_CELL_TRIGGERS)
    op.execute("SELECT employer_grid_cells_rebuild()")
    op.execute(FOLLOW_TRIGGERS)
    schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar()
    for function in DEFINERS:
        op.execute(f'ALTER FUNCTION {function} SECURITY DEFINER SET search_path = "{schema}", pg_temp')
    op.execute(POLICIES)


def downgrade() -> None:
    op.execute(DOWNGRADE)
