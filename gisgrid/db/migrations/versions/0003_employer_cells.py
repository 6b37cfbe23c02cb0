"""employer map cells: counts per map cell kept by triggers, for the vector tiles below z13

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# A tile below z13 counts employers per cell of 1/64 of the tile (gisgrid/maps/tiles.py).
# Counting a city-wide tile on request read ~1M points (p95 4.5 s at 1M employers); the
# counts are kept here instead, for every zoom z = 0..12, keyed by (z, cx, cy) where cx, cy
# are the web-Mercator pixel indices at zoom z + 6 (x eastwards, y southwards, as tiles
# are numbered): tile (z, x, y) holds cx 64x .. 64x + 63. A coarser key is the finer key
# shifted right by one bit. sx, sy are sums of the Mercator metres (EPSG:3857), for the
# mean position. A cell counts every employer with a location (geom NOT NULL), whatever
# its assignment: the raw tiles draw the same employers.
#
# The counts follow employer through statement-level triggers with transition tables,
# so no code path (COPY, the register merge, placement, risk updates, deletes) can
# forget them; each statement applies one set-based delta: the finest level from the
# changed rows, the coarser levels rolled up from that delta.
CELLS = """
-- Web Mercator by plain maths: the same as ST_Transform(geom, 3857) to a few nanometres
-- (CGCS2000 and WGS 84 share the ellipsoid's axis, Mercator uses the sphere of that
-- radius), without PROJ's cost per point. Latitudes clamp to Mercator's ±85.0511°.
-- Not STRICT and each argument used once, so that PostgreSQL inlines them (a call per
-- row cost 2 s per million).
CREATE FUNCTION web_mercator_x(lon double precision) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN 6378137.0 * radians(lon);
CREATE FUNCTION web_mercator_y(lat double precision) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN 6378137.0 * ln(tan(pi() / 4 + radians(greatest(least(lat, 85.0511287798066),
                                                          -85.0511287798066)) / 2));
-- Cell of zoom 12 (pixel of zoom 18) along x, and along y counted from the north:
-- 2^18 cells over the Mercator square of half-width 20037508.342789244 m.
CREATE FUNCTION employer_cell_column(x double precision) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN least(greatest(floor((x + 20037508.342789244) / 40075016.685578488 * 262144), 0),
                 262143)::integer;
CREATE FUNCTION employer_cell_row(y double precision) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN least(greatest(floor((20037508.342789244 - y) / 40075016.685578488 * 262144), 0),
                 262143)::integer;

-- Adds a delta given at zoom 12 (one array element per cell; counts may be negative) to
-- every zoom 0..12, each zoom rolled up from the one below (a cross join of the delta
-- with the 13 zooms grouped 13 times the rows: 4x slower). Cells are written in key
-- order, so two transactions lock shared cells in the same order (the zoom-0 cell first)
-- and wait for each other instead of deadlocking on the cells. Emptied cells are deleted.
CREATE FUNCTION employer_cells_add(d_cx integer[], d_cy integer[], d_count integer[],
        d_r3 integer[], d_r2 integer[], d_r1 integer[], d_r0 integer[], d_unrated integer[],
        d_sx double precision[], d_sy double precision[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    gone_z smallint[];
    gone_x integer[];
    gone_y integer[];
BEGIN
    WITH l12 AS (
        SELECT 12 AS z, * FROM unnest(d_cx, d_cy, d_count, d_r3, d_r2, d_r1, d_r0, d_unrated,
                                      d_sx, d_sy) AS d(cx, cy, count, r3, r2, r1, r0, unrated, sx, sy)
    ),
{rollups},
    levels AS (
        {levels}
    ),
    written AS (
        INSERT INTO employer_cell AS c (z, cx, cy, count, r3, r2, r1, r0, unrated, sx, sy)
        SELECT * FROM levels
        -- A move inside a cell changes only the sums; a risk change only the levels.
        WHERE (count, r3, r2, r1, r0, unrated, sx, sy) <> (0, 0, 0, 0, 0, 0, 0.0, 0.0)
        ORDER BY z, cx, cy
        ON CONFLICT (z, cx, cy) DO UPDATE SET
            count = c.count + excluded.count, r3 = c.r3 + excluded.r3, r2 = c.r2 + excluded.r2,
            r1 = c.r1 + excluded.r1, r0 = c.r0 + excluded.r0,
            unrated = c.unrated + excluded.unrated,
            -- Sums restart from zero when a cell empties: no rounding residue carries over.
            sx = CASE WHEN c.count + excluded.count = 0 THEN 0 ELSE c.sx + excluded.sx END,
            sy = CASE WHEN c.count + excluded.count = 0 THEN 0 ELSE c.sy + excluded.sy END
        RETURNING c.z, c.cx, c.cy, c.count
    )
    SELECT array_agg(z), array_agg(cx), array_agg(cy) INTO gone_z, gone_x, gone_y
    FROM written WHERE count = 0;
    IF gone_z IS NOT NULL THEN
        DELETE FROM employer_cell c USING unnest(gone_z, gone_x, gone_y) AS g(z, cx, cy)
        WHERE c.z = g.z AND c.cx = g.cx AND c.cy = g.cy AND c.count = 0;
    END IF;
END $$;
"""
# Zoom z from zoom z + 1, for z = 11..0, and all 13 together.
_ROLLUP = """
    l{z} AS (
        SELECT {z} AS z, cx >> 1 AS cx, cy >> 1 AS cy, sum(count)::integer AS count,
               sum(r3)::integer AS r3, sum(r2)::integer AS r2, sum(r1)::integer AS r1,
               sum(r0)::integer AS r0, sum(unrated)::integer AS unrated, sum(sx) AS sx, sum(sy) AS sy
        FROM l{finer} GROUP BY 2, 3
    )"""
CELLS = CELLS.replace("{rollups}", ",".join(_ROLLUP.format(z=z, finer=z + 1) for z in range(11, -1, -1)))
CELLS = CELLS.replace("{levels}", "\n        UNION ALL ".join(
    f"SELECT z::smallint, cx, cy, count, r3, r2, r1, r0, unrated, sx, sy FROM l{z}" for z in range(13)))

# The zoom-12 delta of a set of signed rows (sign, geom, risk_level), as the arguments of
# employer_cells_add. {rows} is a subquery over the transition tables.
_DELTA = """
    SELECT array_agg(cx), array_agg(cy), array_agg(count), array_agg(r3), array_agg(r2),
           array_agg(r1), array_agg(r0), array_agg(unrated), array_agg(sx), array_agg(sy)
    INTO d_cx, d_cy, d_count, d_r3, d_r2, d_r1, d_r0, d_unrated, d_sx, d_sy
    FROM (
        SELECT employer_cell_column(mx) AS cx, employer_cell_row(my) AS cy,
               sum(sign)::integer AS count,
               coalesce(sum(sign) FILTER (WHERE risk_level = 3), 0)::integer AS r3,
               coalesce(sum(sign) FILTER (WHERE risk_level = 2), 0)::integer AS r2,
               coalesce(sum(sign) FILTER (WHERE risk_level = 1), 0)::integer AS r1,
               coalesce(sum(sign) FILTER (WHERE risk_level = 0), 0)::integer AS r0,
               coalesce(sum(sign) FILTER (WHERE risk_level IS NULL), 0)::integer AS unrated,
               sum(sign * mx) AS sx, sum(sign * my) AS sy
        -- OFFSET 0 keeps each step a subquery of its own, so that ST_X/ST_Y and the
        -- Mercator maths run once per row (flattened, the planner repeated them in every
        -- aggregate: 4x slower).
        FROM (SELECT sign, risk_level, web_mercator_x(lon) AS mx, web_mercator_y(lat) AS my
              FROM (SELECT sign, risk_level, ST_X(geom) AS lon, ST_Y(geom) AS lat
                    FROM ({rows}) r WHERE geom IS NOT NULL OFFSET 0) l
              OFFSET 0) p
        GROUP BY 1, 2
    ) d;
    IF d_cx IS NOT NULL THEN
        PERFORM employer_cells_add(d_cx, d_cy, d_count, d_r3, d_r2, d_r1, d_r0, d_unrated, d_sx, d_sy);
    END IF;
"""

_DECLARE = """
DECLARE
    d_cx integer[]; d_cy integer[]; d_count integer[]; d_r3 integer[]; d_r2 integer[];
    d_r1 integer[]; d_r0 integer[]; d_unrated integer[];
    d_sx double precision[]; d_sy double precision[];
"""

# An UPDATE counts only the rows whose location or risk level changed: the register merge
# rewrites other columns of many rows. (Transition tables cannot be combined with
# AFTER UPDATE OF column lists, hence the comparison here.) A full join keeps an update
# of id itself right too.
_CHANGED = """
    SELECT -1 AS sign, o.geom, o.risk_level FROM old_rows o
    WHERE o.id IN (SELECT id FROM changed)
    UNION ALL
    SELECT 1, n.geom, n.risk_level FROM new_rows n
    WHERE n.id IN (SELECT id FROM changed)
"""

TRIGGERS = f"""
CREATE FUNCTION employer_cells_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
{_DECLARE}
BEGIN
{_DELTA.format(rows="SELECT 1 AS sign, geom, risk_level FROM new_rows")}
    RETURN NULL;
END $$;
CREATE TRIGGER employer_cells_inserted AFTER INSERT ON employer
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION employer_cells_inserted();

CREATE FUNCTION employer_cells_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
{_DECLARE}
BEGIN
{_DELTA.format(rows="SELECT -1 AS sign, geom, risk_level FROM old_rows")}
    RETURN NULL;
END $$;
CREATE TRIGGER employer_cells_deleted AFTER DELETE ON employer
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION employer_cells_deleted();

CREATE FUNCTION employer_cells_updated() RETURNS trigger LANGUAGE plpgsql AS $$
{_DECLARE}
BEGIN
{_DELTA.format(rows='''
        WITH changed AS (
            SELECT coalesce(o.id, n.id) AS id
            FROM old_rows o FULL JOIN new_rows n ON n.id = o.id
            WHERE o.id IS NULL OR n.id IS NULL
               OR o.risk_level IS DISTINCT FROM n.risk_level
               OR (ST_X(o.geom), ST_Y(o.geom)) IS DISTINCT FROM (ST_X(n.geom), ST_Y(n.geom))
        )''' + _CHANGED)}
    RETURN NULL;
END $$;
CREATE TRIGGER employer_cells_updated AFTER UPDATE ON employer
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION employer_cells_updated();

CREATE FUNCTION employer_cells_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- When the same TRUNCATE lists employer_cell too it is empty already, and truncating
    -- it again here would fail ("being used by active queries").
    IF EXISTS (SELECT FROM employer_cell) THEN
        TRUNCATE employer_cell;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER employer_cells_truncated AFTER TRUNCATE ON employer
    FOR EACH STATEMENT EXECUTE FUNCTION employer_cells_truncated();
"""

# Counts everything again from employer: for this migration and as a repair
# (gisgrid.maps.tiles.rebuild_employer_cells). Zoom 12 from the employers, each coarser
# zoom from the one below. Returns the number of located employers.
REBUILD = """
CREATE FUNCTION employer_cells_rebuild() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    located bigint;
BEGIN
    -- Writers wait until the rebuild commits, so no delta lands between the count and the end.
    LOCK TABLE employer IN SHARE MODE;
    TRUNCATE employer_cell;
    INSERT INTO employer_cell (z, cx, cy, count, r3, r2, r1, r0, unrated, sx, sy)
    SELECT 12, employer_cell_column(mx), employer_cell_row(my), count(*),
           count(*) FILTER (WHERE risk_level = 3), count(*) FILTER (WHERE risk_level = 2),
           count(*) FILTER (WHERE risk_level = 1), count(*) FILTER (WHERE risk_level = 0),
           count(*) FILTER (WHERE risk_level IS NULL), sum(mx), sum(my)
    FROM (SELECT risk_level, web_mercator_x(lon) AS mx, web_mercator_y(lat) AS my
          FROM (SELECT risk_level, ST_X(geom) AS lon, ST_Y(geom) AS lat
                FROM employer WHERE geom IS NOT NULL OFFSET 0) l
          OFFSET 0) e  -- each step once per row, as in the triggers
    GROUP BY 2, 3;
    FOR zoom IN REVERSE 11..0 LOOP
        INSERT INTO employer_cell (z, cx, cy, count, r3, r2, r1, r0, unrated, sx, sy)
        SELECT zoom, cx >> 1, cy >> 1, sum(count), sum(r3), sum(r2), sum(r1), sum(r0),
               sum(unrated), sum(sx), sum(sy)
        FROM employer_cell WHERE z = zoom + 1
        GROUP BY 2, 3;
    END LOOP;
    SELECT coalesce(sum(count), 0) INTO located FROM employer_cell WHERE z = 0;
    RETURN located;
END $$;
"""

DROP = """
DROP TRIGGER IF EXISTS employer_cells_inserted ON employer;
DROP TRIGGER IF EXISTS employer_cells_deleted ON employer;
DROP TRIGGER IF EXISTS employer_cells_updated ON employer;
DROP TRIGGER IF EXISTS employer_cells_truncated ON employer;
DROP FUNCTION IF EXISTS employer_cells_inserted(), employer_cells_deleted(), employer_cells_updated(),
    employer_cells_truncated(), employer_cells_rebuild(),
    employer_cells_add(integer[], integer[], integer[], integer[], integer[], integer[], integer[],
                       integer[], double precision[], double precision[]),
    employer_cell_column(double precision), employer_cell_row(double precision),
    web_mercator_x(double precision),
    web_mercator_y(double precision);
"""


def upgrade() -> None:
    op.create_table('employer_cell',
    sa.Column('z', sa.SmallInteger(), nullable=False),
    sa.Column('cx', sa.Integer(), nullable=False),
    sa.Column('cy', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('r3', sa.Integer(), nullable=False),
    sa.Column('r2', sa.Integer(), nullable=False),
    sa.Column('r1', sa.Integer(), nullable=False),
    sa.Column('r0', sa.Integer(), nullable=False),
    sa.Column('unrated', sa.Integer(), nullable=False),
    sa.Column('sx', sa.Float(precision=53), nullable=False),
    sa.Column('sy', sa.Float(precision=53), nullable=False),
    sa.CheckConstraint('z BETWEEN 0 AND 12', name='employer_cell_z_ck'),
    sa.PrimaryKeyConstraint('z', 'cx', 'cy')
    )
    op.execute(CELLS)
    op.execute(TRIGGERS)
    op.execute(REBUILD)
    op.execute("SELECT employer_cells_rebuild()")


def downgrade() -> None:
    op.execute(DROP)
    op.drop_table('employer_cell')
