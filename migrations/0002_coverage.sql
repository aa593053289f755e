-- Results of the coverage engine (gis/coverage.py): one row per gap, one row of counts per region.
-- A run replaces the rows of the communities it covers.

CREATE TABLE coverage_gaps (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN (
                     'grid_hole', 'grid_overlap', 'grid_outside_community', 'building_no_grid',
                     'building_split', 'layer_mismatch', 'grid_households_norm', 'grid_no_head',
                     'grid_no_worker', 'grid_no_branch', 'building_no_group', 'unit_no_party_org',
                     'unit_not_registered', 'branch_size_rule', 'building_no_responsible',
                     'beyond_service_radius')),
    severity     text NOT NULL CHECK (severity IN ('high', 'medium', 'low')),
    layer        text CHECK (layer IN ('party', 'governance')),
    region_code  char(12) NOT NULL REFERENCES regions(code) ON UPDATE CASCADE ON DELETE CASCADE,
    object_type  text NOT NULL CHECK (object_type IN ('community', 'grid', 'building', 'unit',
                                                      'party_org')),
    object_id    integer,
    object_code  text,
    explanation  text NOT NULL,
    remedy       text NOT NULL,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb,
    geom         geometry(Geometry, 4326),
    computed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coverage_gaps_region_idx ON coverage_gaps (region_code, kind);
CREATE INDEX coverage_gaps_geom_idx ON coverage_gaps USING gist (geom);

-- counts per community; streets, districts and cities are sums of their communities
CREATE TABLE coverage_kpis (
    region_code                  char(12) PRIMARY KEY REFERENCES regions(code)
                                     ON UPDATE CASCADE ON DELETE CASCADE,
    buildings                    integer NOT NULL,
    households                   integer NOT NULL,
    residents                    integer NOT NULL,
    residents_in_governance_grid integer NOT NULL,
    residents_in_party_grid      integer NOT NULL,
    grids                        integer NOT NULL,  -- governance grids
    grids_with_head              integer NOT NULL,
    grids_with_worker            integer NOT NULL,
    party_grids                  integer NOT NULL,
    party_grids_with_branch      integer NOT NULL,
    two_new_buildings            integer NOT NULL,  -- office towers, parks, markets with units
    two_new_buildings_covered    integer NOT NULL,  -- ... whose every unit has an own/joint org
    residential_buildings        integer NOT NULL,
    residential_needing_group    integer NOT NULL,
    residential_with_group       integer NOT NULL,  -- of those needing one
    residential_with_responsible integer NOT NULL,
    residents_within_radius      integer NOT NULL,
    gap_counts                   jsonb NOT NULL DEFAULT '{}'::jsonb,
    distance_mode                text NOT NULL DEFAULT 'straight'
                                     CHECK (distance_mode IN ('straight', 'walk')),
    computed_at                  timestamptz NOT NULL DEFAULT now()
);
