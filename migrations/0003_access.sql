-- Walking access (gis/access.py): network components, each building's nearest centres by walking
-- and by straight line, per-centre figures, isochrones and per-community KPIs.
-- A run replaces every row; access_runs records what it was computed from, so readers can tell
-- when the results no longer match the centres or the network.

ALTER TABLE walk_nodes ADD COLUMN component integer;

-- building_access (0001) keeps its columns: center_id, walk_m, reachable = the nearest existing
-- centre by walking; straight_m = straight-line distance to that same centre.
-- The ids added here carry no foreign keys: a run rewrites every row, and checking a million
-- rows' references doubles its COPY; access_runs.fingerprint says when rows are stale.
ALTER TABLE building_access
    ADD COLUMN edge_id              bigint,
    ADD COLUMN snap_m               double precision CHECK (snap_m IS NULL OR snap_m >= 0),
    ADD COLUMN long_snap            boolean NOT NULL DEFAULT false,
    ADD COLUMN component            integer,
    ADD COLUMN detour               double precision CHECK (detour IS NULL OR detour >= 0.99),
    ADD COLUMN walk_band_m          double precision,   -- smallest band holding walk_m, NULL beyond
    ADD COLUMN nearest_straight_center_id integer,
    ADD COLUMN nearest_straight_m   double precision,
    ADD COLUMN straight_band_m      double precision,
    ADD COLUMN within_radius_walk     boolean NOT NULL DEFAULT false,  -- of some centre's own radius
    ADD COLUMN within_radius_straight boolean NOT NULL DEFAULT false,
    -- nearest centre of each level, in the order street, community, grid, building (NULL: none)
    ADD COLUMN level_walk_center_ids     integer[],
    ADD COLUMN level_walk_m              double precision[],
    ADD COLUMN level_straight_center_ids integer[],
    ADD COLUMN level_straight_m          double precision[];
CREATE INDEX building_access_center_idx ON building_access (center_id);

CREATE TABLE center_access (
    center_id         integer PRIMARY KEY REFERENCES service_centers(id) ON DELETE CASCADE,
    edge_id           bigint,
    snap_m            double precision CHECK (snap_m IS NULL OR snap_m >= 0),
    long_snap         boolean NOT NULL DEFAULT false,
    component         integer,
    radius_m          double precision NOT NULL CHECK (radius_m > 0),
    buildings         integer NOT NULL DEFAULT 0,   -- assigned to it (nearest by walking)
    residents         integer NOT NULL DEFAULT 0,
    residents_within_radius integer NOT NULL DEFAULT 0  -- assigned and within its radius
);

CREATE TABLE center_isochrones (
    center_id integer NOT NULL REFERENCES service_centers(id) ON DELETE CASCADE,
    band_m    double precision NOT NULL CHECK (band_m > 0),
    geom      geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom)),
    PRIMARY KEY (center_id, band_m)
);
CREATE INDEX center_isochrones_geom_idx ON center_isochrones USING gist (geom);

-- per community; streets and districts are sums of their communities
CREATE TABLE access_kpis (
    region_code        char(12) PRIMARY KEY REFERENCES regions(code)
                           ON UPDATE CASCADE ON DELETE CASCADE,
    buildings          integer NOT NULL,
    residents          integer NOT NULL,
    residents_unreachable integer NOT NULL,
    residents_within_radius_walk     integer NOT NULL,
    residents_within_radius_straight integer NOT NULL,
    -- {"300": residents whose nearest centre is within 300 m, ...} (cumulative)
    walk_band_residents     jsonb NOT NULL,
    straight_band_residents jsonb NOT NULL
);

CREATE TABLE access_runs (
    id           serial PRIMARY KEY,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    fingerprint  text NOT NULL,   -- of the centres, the network and the buildings used
    buildings    integer NOT NULL,
    centers      integer NOT NULL,
    edges        integer NOT NULL,
    seconds      double precision
);
