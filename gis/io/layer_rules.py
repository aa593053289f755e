"""Per-layer SQL of the importer: defaults, reference resolution, row checks and the upsert.

Every statement works on the staged rows of one import (temporary table ``import_stage``: a
``row`` number, one column per field of :data:`gis.io.schema.LAYERS`, ``geom`` in EPSG:4326 and
the columns a layer resolves, such as ``building_id``) as a whole:
set-based, GiST-indexed spatial joins, no per-row round trips.

A :class:`LayerRules` gives, for the fields present in the file:

- ``prepare``: statements filling defaults, derived codes and resolved ids;
- ``checks``: ``(label, condition, message)`` triples; every staged row meeting a condition is
  rejected with its message (an SQL text expression over the row);
- ``upsert``: one ``INSERT … ON CONFLICT … DO UPDATE`` returning ``id`` and ``inserted`` for the
  rows written (unchanged rows return nothing); only fields present in the file are updated;
- ``after``: statements run with ``import_written(id, inserted)`` holding what was written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gis.topology import REASSIGN_BUILDINGS_SQL

__all__ = ["AUTO_CODE_PREFIX", "LayerRules", "PERSONS_PER_HOUSEHOLD", "RESOLVED", "rules_for"]

# China's mean household size (2020 census: 2.62 persons), used when a ledger gives 户数 only
PERSONS_PER_HOUSEHOLD = 2.62
# codes made for rows a file gives without one, so a re-import finds the same row again
AUTO_CODE_PREFIX = "auto:"
# how far (degrees, ≈ 200 m) an object may lie outside the region it names
OUTSIDE_TOLERANCE_DEG = 0.002

# id columns a layer resolves from codes (added to the staging table)
RESOLVED: dict[str, tuple[str, ...]] = {
    "regions": ("level_code", "parent"),
    "grids": ("community",),
    "buildings": ("community", "grid_id"),
    "centers": ("region", "building_id"),
    "units": ("building_id", "org_id"),
    "members": ("org_id", "home_building_id"),
    "staff": ("grid_id", "member_id"),
    "ledger": (),
}


@dataclass
class LayerRules:
    """The SQL of one layer's import (see the module docstring)."""

    prepare: list[str]
    checks: list[tuple[str, str, str]]
    upsert: str
    after: list[str] = field(default_factory=list)


def _auto_code(expr: str) -> str:
    return (f"UPDATE import_stage SET code = '{AUTO_CODE_PREFIX}' || left(md5({expr}), 20)"
            " WHERE code IS NULL")


def _upsert(table: str, conflict: str, columns: dict[str, str], updated: list[str], *,
            returning: str = "id") -> str:
    """``INSERT INTO table (columns) SELECT … ON CONFLICT DO UPDATE`` the ``updated`` columns.

    A row counts as changed when a value differs, or its shape does: shapes are compared
    topologically (``ST_Equals``), so a ring written the other way round is the same shape.
    """
    names = ", ".join(columns)
    values = ", ".join(columns.values())
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in updated)
    plain = [c for c in updated if c != "geom"]
    old = ", ".join(f"{table}.{c}" for c in plain)
    new = ", ".join(f"EXCLUDED.{c}" for c in plain)
    tests = [f"ROW({old})::text IS DISTINCT FROM ROW({new})::text"] if plain else []
    if "geom" in updated:
        a, b = f"{table}.geom", "EXCLUDED.geom"
        tests.append(f"CASE WHEN {a}::text IS NOT DISTINCT FROM {b}::text THEN false"
                     f" WHEN {a} IS NULL OR {b} IS NULL THEN true ELSE NOT ST_Equals({a}, {b}) END")
    changed = " OR ".join(tests) or "false"
    # staged rows are read in file order (COPY order); sorting a million wide rows is dear
    return (f"INSERT INTO {table} AS {table} ({names}) SELECT {values} FROM import_stage"
            f" ON CONFLICT {conflict} DO UPDATE SET {sets} WHERE {changed}"
            f" RETURNING {returning}, (xmax = 0) AS inserted")


def _present(present: set[str], mapping: dict[str, str]) -> list[str]:
    """Table columns updated on conflict: those whose field the file gives."""
    return [column for name, column in mapping.items() if name in present]


def _ref_check(label: str, code: str, resolved: str, what: str) -> tuple[str, str, str]:
    return (label, f"{code} IS NOT NULL AND {resolved} IS NULL",
            f"format('%%s %%s not found in the database', '{what}', {code})")


def _range(label: str, column: str, low: int | float, high: int | float | None = None,
           ) -> tuple[str, str, str]:
    cond = f"{column} < {low}" + (f" OR {column} > {high}" if high is not None else "")
    bounds = f"≥ {low}" if high is None else f"between {low} and {high}"
    return (label, f"{column} IS NOT NULL AND ({cond})",
            f"format('%%s is not {bounds}', {column})")


_PHONE = ("联系电话", r"phone IS NOT NULL AND phone !~ '^[0-9+\- ]{5,20}$'",
          "format('%%s is not a phone number', phone)")


def _regions(present: set[str]) -> LayerRules:
    level_of = ("CASE WHEN substr(code, 10) <> '000' THEN 'community'"
                " WHEN substr(code, 7, 3) <> '000' THEN 'street'"
                " WHEN substr(code, 5, 2) <> '00' THEN 'district' ELSE 'city' END")
    parent_of = ("CASE level_code WHEN 'community' THEN substr(code, 1, 9) || '000'"
                 " WHEN 'street' THEN substr(code, 1, 6) || '000000'"
                 " WHEN 'district' THEN substr(code, 1, 4) || '00000000' END")
    good = "code ~ '^[0-9]{12}$'"
    prepare = [f"UPDATE import_stage SET level_code = {level_of} WHERE {good}",
               f"UPDATE import_stage SET parent = COALESCE(parent_code, {parent_of})"
               f" WHERE {good}"]
    checks = [
        ("区划代码", f"NOT ({good})", "format('%%s is not a 12-digit division code', code)"),
        ("级别", f"{good} AND level IS NOT NULL AND level <> level_code",
         "format('level %%s does not match code %%s (a %%s code)', level, code, level_code)"),
        ("上级代码", "parent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM regions r"
         " WHERE r.code = parent) AND NOT EXISTS (SELECT 1 FROM import_stage p"
         " WHERE p.code = import_stage.parent)",
         "format('parent region %%s of %%s is neither in the database nor in the file',"
         " parent, code)"),
    ]
    cols = {"code": "code", "level": "level_code", "name": "name", "parent_code": "parent",
            "geom": "ST_Multi(geom)"}
    updated = ["level", "name", "parent_code"] + (["geom"] if "geom" in present else [])
    upsert = _upsert("regions", "(code)", cols, updated, returning="NULL::integer").replace(
        " ON CONFLICT", " ORDER BY array_position(ARRAY['city','district','street','community'],"
        " level_code), row ON CONFLICT")
    return LayerRules(prepare, checks, upsert)


def _grids(present: set[str]) -> LayerRules:
    prepare = ["UPDATE import_stage SET layer = 'governance' WHERE layer IS NULL",
               "UPDATE import_stage SET community = COALESCE(community_code, substr(code, 1, 12))"
               " WHERE code ~ '^[0-9]{15}$'"]
    checks = [
        ("网格编码", "code !~ '^[0-9]{15}$' OR substr(code, 13) = '000'",
         "format('%%s is not a 15-digit grid code (community code + 3-digit serial)', code)"),
        ("社区代码", "community IS NOT NULL AND substr(code, 1, 12) <> community",
         "format('grid %%s does not start with its community code %%s', code, community)"),
        ("社区代码", "community IS NOT NULL AND NOT EXISTS (SELECT 1 FROM regions r"
         " WHERE r.code = community AND r.level = 'community')",
         "format('community %%s not found in the database (import regions first)', community)"),
        ("几何", "EXISTS (SELECT 1 FROM regions r WHERE r.code = community AND r.geom IS NOT NULL"
         f" AND NOT ST_DWithin(r.geom, ST_PointOnSurface(import_stage.geom),"
         f" {OUTSIDE_TOLERANCE_DEG}))",
         "format('grid %%s lies outside community %%s: wrong coordinate system?',"
         " code, community)"),
    ]
    cols = {"code": "code", "layer": "layer", "community_code": "community", "name": "name",
            "geom": "ST_Multi(geom)"}
    upsert = _upsert("grids", "(layer, code)", cols, ["community_code", "name", "geom"]).replace(
        "DO UPDATE SET ", "DO UPDATE SET version = grids.version + 1, updated_at = now(), ")
    after = [
        """INSERT INTO grid_history (grid_id, version, code, layer, geom, changed_by, action, name,
                                     community_code)
           SELECT g.id, g.version, g.code, g.layer, g.geom, %(user)s, 'import', g.name,
                  g.community_code
           FROM grids g JOIN import_written w ON w.id = g.id""",
        REASSIGN_BUILDINGS_SQL.format(scope="b.community_code IN (SELECT g.community_code"
                                            " FROM grids g JOIN import_written w ON w.id = g.id)"),
    ]
    return LayerRules(prepare, checks, upsert, after)


def _buildings(present: set[str]) -> LayerRules:
    # community, grid_id, the residents of households-only rows and the default kind are
    # filled while staging (gis.io.placement, vectorised per batch)
    prepare = [_auto_code("ST_AsBinary(ST_SnapToGrid(geom, 1e-7))")]
    checks = [
        _ref_check("社区代码", "community_code", "(SELECT r.code FROM regions r WHERE r.code ="
                   " community_code AND r.level = 'community')", "community"),
        ("几何", "community_code IS NOT NULL AND EXISTS (SELECT 1 FROM regions r"
         " WHERE r.code = community_code AND r.geom IS NOT NULL AND NOT ST_DWithin(r.geom,"
         f" ST_PointOnSurface(import_stage.geom), {OUTSIDE_TOLERANCE_DEG}))",
         "format('building lies outside community %%s: wrong coordinate system?',"
         " community_code)"),
        _range("层数", "floors", 1, 200),
        _range("户数", "households", 0),
        _range("常住人口", "residents", 0),
        _range("流动户数", "migrant_households", 0),
        _range("流动人口", "migrant_residents", 0),
        ("常住人口", "residents < households",
         "format('%%s residents in %%s households', residents, households)"),
        ("流动户数", "migrant_households > COALESCE(households, 0)",
         "format('%%s migrant households of %%s in all', migrant_households,"
         " COALESCE(households, 0))"),
        ("流动人口", "migrant_residents > COALESCE(residents, 0)",
         "format('%%s migrant residents of %%s in all', migrant_residents,"
         " COALESCE(residents, 0))"),
    ]
    mapping = {"name": "name", "community_code": "community_code", "kind": "kind",
               "form": "form", "households": "households", "residents": "residents",
               "migrant_households": "migrant_households",
               "migrant_residents": "migrant_residents", "floors": "floors",
               "is_rental": "is_rental"}
    cols = {"code": "code", "name": "name", "community_code": "community", "kind": "kind",
            "form": "form", "households": "COALESCE(households, 0)",
            "residents": "COALESCE(residents, 0)",
            "migrant_households": "COALESCE(migrant_households, 0)",
            "migrant_residents": "COALESCE(migrant_residents, 0)", "floors": "floors",
            "is_rental": "COALESCE(is_rental, false)", "grid_id": "grid_id",
            "geom": "ST_Multi(geom)"}
    updated = _present(present, mapping) + ["community_code", "geom", "grid_id"]
    if "households" in present:
        updated.append("residents")
    updated = list(dict.fromkeys(updated))
    return LayerRules(prepare, checks, _upsert("buildings", "(code)", cols, updated))


def _centers(present: set[str]) -> LayerRules:
    prepare = [
        _auto_code("concat_ws('|', name, level, ST_AsText(ST_SnapToGrid(geom, 1e-6)))"),
        "UPDATE import_stage SET status = 'existing' WHERE status IS NULL",
        "UPDATE import_stage s SET region = r.code FROM regions r WHERE r.code = s.region_code",
        """UPDATE import_stage s SET region = r.code FROM regions r
           WHERE s.region_code IS NULL AND r.level = 'community'
             AND ST_Intersects(r.geom, s.geom)""",
        "UPDATE import_stage s SET building_id = b.id FROM buildings b"
        " WHERE b.code = s.building_code",
    ]
    checks = [
        _ref_check("区划代码", "region_code", "region", "region"),
        _ref_check("楼栋编码", "building_code", "building_id", "building"),
        ("几何", "region_code IS NOT NULL AND EXISTS (SELECT 1 FROM regions r"
         " WHERE r.code = region_code AND r.geom IS NOT NULL"
         " AND NOT ST_DWithin(r.geom, import_stage.geom,"
         f" {OUTSIDE_TOLERANCE_DEG}))",
         "format('centre lies outside region %%s: wrong coordinate system?', region_code)"),
        ("面积", "floor_area_m2 IS NOT NULL AND (floor_area_m2 <= 0 OR floor_area_m2 >= 1e9)",
         "format('%%s m² is not a floor area', floor_area_m2)"),
        ("服务半径", "radius_m IS NOT NULL AND (radius_m <= 0 OR radius_m >= 1e7)",
         "format('%%s m is not a radius', radius_m)"),
    ]
    mapping = {"name": "name", "level": "level", "status": "status",
               "floor_area_m2": "floor_area_m2", "region_code": "region_code",
               "building_code": "building_id", "radius_m": "radius_m"}
    cols = {"code": "code", "name": "name", "level": "level", "status": "status",
            "floor_area_m2": "floor_area_m2", "region_code": "region",
            "building_id": "building_id", "radius_m": "radius_m", "geom": "geom"}
    updated = _present(present | {"region_code"}, mapping) + ["geom"]
    return LayerRules(prepare, checks, _upsert("service_centers", "(code)", cols, updated))


def _units(present: set[str]) -> LayerRules:
    prepare = [
        # units of one name stand in many buildings (a chain's branches)
        _auto_code("concat_ws('|', name, building_code, ST_AsText(ST_SnapToGrid(geom, 1e-6)))"),
        "UPDATE import_stage SET kind = 'other' WHERE kind IS NULL",
        "UPDATE import_stage s SET building_id = b.id FROM buildings b"
        " WHERE b.code = s.building_code",
        # a unit placed by a point sits in the building under it
        """UPDATE import_stage s SET building_id = (
               SELECT b.id FROM buildings b WHERE ST_Intersects(b.geom, s.geom) ORDER BY b.id
               LIMIT 1)
           WHERE s.building_code IS NULL AND s.geom IS NOT NULL""",
        "UPDATE import_stage s SET org_id = o.id FROM party_orgs o WHERE o.code = s.org_code",
    ]
    checks = [_ref_check("楼栋编码", "building_code", "building_id", "building"),
              _ref_check("党组织编码", "org_code", "org_id", "party organisation"),
              _range("党员数", "member_count", 0), _range("职工数", "employees", 0)]
    mapping = {"name": "name", "kind": "kind", "building_code": "building_id",
               "org_code": "party_org_id", "registered": "registered",
               "member_count": "member_count", "employees": "employees",
               "resources": "resources", "offers_space": "offers_space"}
    cols = {"code": "code", "name": "name", "kind": "kind", "building_id": "building_id",
            "party_org_id": "org_id", "registered": "COALESCE(registered, false)",
            "member_count": "COALESCE(member_count, 0)", "employees": "employees",
            "resources": "resources", "offers_space": "COALESCE(offers_space, false)"}
    updated = _present(present | ({"building_code"} if "geom" in present else set()), mapping)
    return LayerRules(prepare, checks, _upsert("units", "(code)", cols, updated))


def _members(present: set[str]) -> LayerRules:
    prepare = [
        _auto_code("concat_ws('|', name, phone)"),
        "UPDATE import_stage s SET org_id = o.id FROM party_orgs o WHERE o.code = s.org_code",
        "UPDATE import_stage s SET home_building_id = b.id FROM buildings b"
        " WHERE b.code = s.home_building_code",
    ]
    checks = [_ref_check("党组织编码", "org_code", "org_id", "party organisation"),
              _ref_check("居住楼栋编码", "home_building_code", "home_building_id", "building"),
              _PHONE]
    mapping = {"name": "name", "phone": "phone", "category": "category", "org_code": "org_id",
               "home_building_code": "home_building_id",
               "is_demonstration_post": "is_demonstration_post",
               "is_probationary": "is_probationary"}
    cols = {"code": "code", "name": "name", "phone": "phone", "category": "category",
            "org_id": "org_id", "home_building_id": "home_building_id",
            "is_demonstration_post": "COALESCE(is_demonstration_post, false)",
            "is_probationary": "COALESCE(is_probationary, false)"}
    return LayerRules(prepare, checks,
                      _upsert("members", "(code)", cols, _present(present, mapping)))


def _staff(present: set[str]) -> LayerRules:
    prepare = [
        _auto_code("concat_ws('|', grid_code, role, name)"),
        # a code held by both layers means the governance grid (staff work on 综治网格)
        """UPDATE import_stage s SET grid_id = (SELECT g.id FROM grids g WHERE g.code = s.grid_code
                                                ORDER BY g.layer = 'governance' DESC LIMIT 1)""",
        "UPDATE import_stage s SET member_id = m.id FROM members m WHERE m.code = s.member_code",
    ]
    checks = [_ref_check("网格编码", "grid_code", "grid_id", "grid"),
              _ref_check("党员编号", "member_code", "member_id", "member"), _PHONE]
    mapping = {"grid_code": "grid_id", "role": "role", "name": "name", "phone": "phone",
               "member_code": "member_id"}
    cols = {"code": "code", "grid_id": "grid_id", "role": "role", "name": "name",
            "phone": "phone", "member_id": "member_id"}
    return LayerRules(prepare, checks,
                      _upsert("grid_staff", "(code)", cols, _present(present, mapping)))


def _ledger(present: set[str]) -> LayerRules:
    prepare = [_auto_code("concat_ws('|', list, region_code, title)"),
               "UPDATE import_stage SET status = 'open' WHERE status IS NULL"]
    checks = [("区划代码", "NOT EXISTS (SELECT 1 FROM regions r WHERE r.code = region_code)",
               "format('region %%s not found in the database', region_code)")]
    mapping = {"list": "list", "region_code": "region_code", "title": "title",
               "description": "description", "status": "status"}
    cols = {"code": "code", "list": "list", "region_code": "region_code", "title": "title",
            "description": "description", "status": "status"}
    return LayerRules(prepare, checks,
                      _upsert("ledger_items", "(code)", cols, _present(present, mapping)))


_RULES: dict[str, Callable[[set[str]], LayerRules]] = {
    "regions": _regions, "grids": _grids, "buildings": _buildings, "centers": _centers,
    "units": _units, "members": _members, "staff": _staff, "ledger": _ledger,
}


def rules_for(layer: str, present: set[str]) -> LayerRules:
    """The import SQL of ``layer`` for a file giving the fields ``present`` (plus ``geom``)."""
    return _RULES[layer](present)
