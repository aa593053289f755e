-- gridmap schema: the domain of DESIGN.md.
-- Coordinates are stored in EPSG:4326; every geometry column is typed, valid and GiST-indexed.
-- Codes follow the 12-digit statistical division code (regions) and community code + 3-digit
-- serial (grids).

CREATE EXTENSION IF NOT EXISTS postgis;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgrouting') THEN
        CREATE EXTENSION IF NOT EXISTS pgrouting;
    END IF;
END $$;

-- 市 / 区 / 街道 / 社区(居委会): the administrative hierarchy ("四级联动")
CREATE TABLE regions (
    code        char(12) PRIMARY KEY CHECK (code ~ '^[0-9]{12}$'),
    level       text NOT NULL CHECK (level IN ('city', 'district', 'street', 'community')),
    name        text NOT NULL CHECK (length(btrim(name)) > 0),
    parent_code char(12) REFERENCES regions(code) ON UPDATE CASCADE,
    geom        geometry(MultiPolygon, 4326) CHECK (geom IS NULL OR ST_IsValid(geom)),
    -- the code's padding matches its level: a street ends in 000, a district in 000000 ...
    CONSTRAINT regions_code_level CHECK (
        (level = 'city' AND substr(code, 5) = '00000000')
        OR (level = 'district' AND substr(code, 7) = '000000' AND substr(code, 5, 2) <> '00')
        OR (level = 'street' AND substr(code, 10) = '000' AND substr(code, 7, 3) <> '000')
        OR (level = 'community' AND substr(code, 10) <> '000')
    ),
    CONSTRAINT regions_parent_needed CHECK (level = 'city' OR parent_code IS NOT NULL)
);
CREATE INDEX regions_geom_idx ON regions USING gist (geom);
CREATE INDEX regions_parent_idx ON regions (parent_code);

-- 网格: 党建网格 (party) and 综治/社会治理网格 (governance), each tiling its community
CREATE TABLE grids (
    id             serial PRIMARY KEY,
    code           char(15) NOT NULL CHECK (code ~ '^[0-9]{15}$'),
    layer          text NOT NULL CHECK (layer IN ('party', 'governance')),
    community_code char(12) NOT NULL REFERENCES regions(code) ON UPDATE CASCADE,
    name           text NOT NULL,
    geom           geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
    version        integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT grids_code_in_community CHECK (substr(code, 1, 12) = community_code
                                              AND substr(code, 13) <> '000'),
    CONSTRAINT grids_code_unique UNIQUE (layer, code)
);
CREATE INDEX grids_geom_idx ON grids USING gist (geom);
CREATE INDEX grids_community_idx ON grids (community_code, layer);

-- 楼栋 / 楼宇: building footprints; grid_id is the governance grid holding most of the footprint
CREATE TABLE buildings (
    id                 serial PRIMARY KEY,
    code               text UNIQUE,
    name               text,
    community_code     char(12) REFERENCES regions(code) ON UPDATE CASCADE,
    grid_id            integer REFERENCES grids(id) ON DELETE SET NULL,
    kind               text NOT NULL CHECK (kind IN ('residential', 'office', 'market', 'park',
                                                     'public', 'school', 'other')),
    form               text CHECK (form IN ('slab', 'tower', 'low_rise', 'campus', 'hall')),
    households         integer NOT NULL DEFAULT 0 CHECK (households >= 0),
    residents          integer NOT NULL DEFAULT 0 CHECK (residents >= 0),
    migrant_households integer NOT NULL DEFAULT 0 CHECK (migrant_households >= 0),
    migrant_residents  integer NOT NULL DEFAULT 0 CHECK (migrant_residents >= 0),
    floors             integer CHECK (floors IS NULL OR floors BETWEEN 1 AND 200),
    is_rental          boolean NOT NULL DEFAULT false,
    geom               geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
    CONSTRAINT buildings_migrants_within CHECK (migrant_households <= households
                                                AND migrant_residents <= residents),
    CONSTRAINT buildings_households_have_residents CHECK (households = 0 OR residents >= households)
);
CREATE INDEX buildings_geom_idx ON buildings USING gist (geom);
CREATE INDEX buildings_grid_idx ON buildings (grid_id);
CREATE INDEX buildings_community_idx ON buildings (community_code);

-- 党组织: 街道党工委 → 社区党委/党总支 → 网格(小区)党支部 → 楼栋党小组, and the special kinds
CREATE TABLE party_orgs (
    id            serial PRIMARY KEY,
    code          text UNIQUE,
    kind          text NOT NULL CHECK (kind IN (
                      'street_working_committee',  -- 街道党工委
                      'community_committee',       -- 社区党委 (社区大党委)
                      'community_general_branch',  -- 社区党总支
                      'community_branch',          -- 社区党支部
                      'grid_branch',               -- 网格(小区)党支部
                      'building_group',            -- 楼栋党小组
                      'building_court_branch',     -- 楼院党支部
                      'tower_org',                 -- 楼宇党组织
                      'joint_branch',              -- 联合党支部
                      'retired_branch',            -- 退休(离退休)党支部
                      'floating_branch',           -- 流动党员党支部
                      'nonpublic_branch',          -- 非公企业党支部
                      'unit_branch'                -- 驻区单位党组织
                  )),
    name          text NOT NULL,
    parent_id     integer REFERENCES party_orgs(id) ON DELETE SET NULL,
    region_code   char(12) REFERENCES regions(code) ON UPDATE CASCADE,
    grid_id       integer REFERENCES grids(id) ON DELETE SET NULL,
    building_id   integer REFERENCES buildings(id) ON DELETE SET NULL,
    has_committee boolean NOT NULL DEFAULT false,   -- 支部委员会 (needed from 7 members)
    secretary     text,
    CONSTRAINT party_orgs_not_own_parent CHECK (parent_id IS NULL OR parent_id <> id)
);
CREATE INDEX party_orgs_parent_idx ON party_orgs (parent_id);
CREATE INDEX party_orgs_grid_idx ON party_orgs (grid_id);
CREATE INDEX party_orgs_building_idx ON party_orgs (building_id);
CREATE INDEX party_orgs_region_idx ON party_orgs (region_code);

-- 党员 (name and phone are personal data)
CREATE TABLE members (
    id                      serial PRIMARY KEY,
    name                    text NOT NULL,
    phone                   text CHECK (phone IS NULL OR phone ~ '^[0-9+\- ]{5,20}$'),
    category                text NOT NULL CHECK (category IN (
                                'registered',  -- 社区在册党员
                                'reporting',   -- 在职党员进社区报到
                                'floating',    -- 流动党员
                                'retired',     -- 离退休党员
                                'nonpublic'    -- 非公经济组织党员
                            )),
    org_id                  integer REFERENCES party_orgs(id) ON DELETE SET NULL,
    home_building_id        integer REFERENCES buildings(id) ON DELETE SET NULL,
    is_demonstration_post   boolean NOT NULL DEFAULT false,  -- 党员示范岗
    is_probationary         boolean NOT NULL DEFAULT false   -- 预备党员 (not a full member)
);
CREATE INDEX members_org_idx ON members (org_id);
CREATE INDEX members_home_idx ON members (home_building_id);

-- 党员责任区: the buildings a member looks after
CREATE TABLE member_buildings (
    member_id   integer NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    building_id integer NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
    PRIMARY KEY (member_id, building_id)
);
CREATE INDEX member_buildings_building_idx ON member_buildings (building_id);

-- 网格长 / 专职网格员 / 兼职网格员
CREATE TABLE grid_staff (
    id        serial PRIMARY KEY,
    grid_id   integer REFERENCES grids(id) ON DELETE SET NULL,
    role      text NOT NULL CHECK (role IN ('head', 'full_time', 'part_time')),
    name      text NOT NULL,
    phone     text CHECK (phone IS NULL OR phone ~ '^[0-9+\- ]{5,20}$'),
    member_id integer REFERENCES members(id) ON DELETE SET NULL
);
CREATE INDEX grid_staff_grid_idx ON grid_staff (grid_id);

-- 驻区单位 / 两新组织
CREATE TABLE units (
    id             serial PRIMARY KEY,
    name           text NOT NULL,
    kind           text NOT NULL CHECK (kind IN (
                       'organ',          -- 机关
                       'institution',    -- 事业单位
                       'state_owned',    -- 国有企业
                       'nonpublic',      -- 非公企业
                       'social_org',     -- 社会组织
                       'other'
                   )),
    building_id    integer REFERENCES buildings(id) ON DELETE SET NULL,
    party_org_id   integer REFERENCES party_orgs(id) ON DELETE SET NULL,  -- its own party org
    joint_org_id   integer REFERENCES party_orgs(id) ON DELETE SET NULL,  -- 联合党组织 it joined
    registered     boolean NOT NULL DEFAULT false,  -- 双报到
    member_count   integer NOT NULL DEFAULT 0 CHECK (member_count >= 0),
    employees      integer CHECK (employees IS NULL OR employees >= 0),
    resources      text,                              -- what it offers (资源清单)
    offers_space   boolean NOT NULL DEFAULT false,     -- offers rooms usable as a service station
    CONSTRAINT units_one_org CHECK (party_org_id IS NULL OR joint_org_id IS NULL)
);
CREATE INDEX units_building_idx ON units (building_id);

-- 党群服务中心 / 站
CREATE TABLE service_centers (
    id            serial PRIMARY KEY,
    code          text UNIQUE,
    name          text NOT NULL,
    level         text NOT NULL CHECK (level IN ('street', 'community', 'grid', 'building')),
    status        text NOT NULL DEFAULT 'existing' CHECK (status IN ('existing', 'planned', 'candidate')),
    floor_area_m2 numeric(10, 1) CHECK (floor_area_m2 IS NULL OR floor_area_m2 > 0),
    region_code   char(12) REFERENCES regions(code) ON UPDATE CASCADE,
    building_id   integer REFERENCES buildings(id) ON DELETE SET NULL,
    radius_m      numeric(8, 1) CHECK (radius_m IS NULL OR radius_m > 0),  -- NULL: the level's norm
    geom          geometry(Point, 4326) NOT NULL CHECK (ST_IsValid(geom))
);
CREATE INDEX service_centers_geom_idx ON service_centers USING gist (geom);

-- 三张清单: 需求清单 / 资源清单 / 项目清单
CREATE TABLE ledger_items (
    id           serial PRIMARY KEY,
    list         text NOT NULL CHECK (list IN ('need', 'resource', 'project')),
    region_code  char(12) NOT NULL REFERENCES regions(code) ON UPDATE CASCADE,
    title        text NOT NULL,
    description  text,
    unit_id      integer REFERENCES units(id) ON DELETE SET NULL,
    grid_id      integer REFERENCES grids(id) ON DELETE SET NULL,
    need_id      integer REFERENCES ledger_items(id) ON DELETE SET NULL,      -- a project's need
    resource_id  integer REFERENCES ledger_items(id) ON DELETE SET NULL,  -- a project's resource
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'done')),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_items_region_idx ON ledger_items (region_code, list);

-- walking network
CREATE TABLE walk_nodes (
    id   bigserial PRIMARY KEY,
    geom geometry(Point, 4326) NOT NULL
);
CREATE INDEX walk_nodes_geom_idx ON walk_nodes USING gist (geom);

CREATE TABLE walk_edges (
    id        bigserial PRIMARY KEY,
    source    bigint NOT NULL REFERENCES walk_nodes(id) ON DELETE CASCADE,
    target    bigint NOT NULL REFERENCES walk_nodes(id) ON DELETE CASCADE,
    length_m  double precision NOT NULL CHECK (length_m >= 0),
    kind      text NOT NULL DEFAULT 'street' CHECK (kind IN ('street', 'path', 'compound', 'other')),
    geom      geometry(LineString, 4326) NOT NULL CHECK (ST_IsValid(geom))
);
CREATE INDEX walk_edges_geom_idx ON walk_edges USING gist (geom);
CREATE INDEX walk_edges_source_idx ON walk_edges (source);
CREATE INDEX walk_edges_target_idx ON walk_edges (target);

-- every grid change, with the geometry it had after the change
CREATE TABLE grid_history (
    id          bigserial PRIMARY KEY,
    grid_id     integer NOT NULL,  -- no FK: history outlives a deleted grid
    version     integer NOT NULL,
    code        char(15),
    layer       text,
    geom        geometry(MultiPolygon, 4326),
    changed_by  text NOT NULL DEFAULT current_user,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    action      text NOT NULL CHECK (action IN ('create', 'update', 'split', 'merge', 'delete',
                                                'restore', 'renumber', 'import')),
    UNIQUE (grid_id, version)
);

-- each building's nearest existing centre (filled by the access engine)
CREATE TABLE building_access (
    building_id integer PRIMARY KEY REFERENCES buildings(id) ON DELETE CASCADE,
    center_id   integer REFERENCES service_centers(id) ON DELETE CASCADE,
    straight_m  double precision CHECK (straight_m IS NULL OR straight_m >= 0),
    walk_m      double precision CHECK (walk_m IS NULL OR walk_m >= 0),
    reachable   boolean NOT NULL DEFAULT false,
    CONSTRAINT building_access_walk_not_shorter CHECK (walk_m IS NULL OR straight_m IS NULL
                                                       OR walk_m >= straight_m - 0.01)
);

-- what the demo generator planted on purpose, so engines can be checked to find exactly these
CREATE TABLE demo_planted_gaps (
    id          serial PRIMARY KEY,
    kind        text NOT NULL,
    layer       text,
    object_type text NOT NULL,
    object_id   integer,
    object_code text,
    region_code char(12),
    note        text NOT NULL
);
