"""``gridmap import osm FILE``: buildings, walkways, boundaries and centres from OpenStreetMap.

An OSM extract (``.osm`` XML or ``.osm.pbf``) is read with GDAL's OSM driver through pyogrio,
configured by the ``osmconf.ini`` next to this module so that the tags gridmap needs are columns
(:func:`read_osm`). :func:`import_osm` then writes it into one district, in the caller's
transaction:

- regions: the district (and its city) when missing, streets and communities from the
  administrative boundaries of the extract — or, without any, one street and one community
  covering the buildings;
- buildings (``building=*``) with their kind, floors and, for residential buildings, households
  and residents *estimated* from footprint × levels (see :data:`DEFAULT_FLOORS` and the
  constants after it), each in the community holding its centroid;
- service centres (``amenity=community_centre / social_facility / townhall``);
- the walking network (walkable ``highway=*`` ways), noded by
  :func:`gis.io.network_import.import_lines`, replacing the previous network.

OSM data is © OpenStreetMap contributors, under the Open Database Licence 1.0.

Examples
--------
>>> data = read_osm("tests/data/osm/helsinki.osm.pbf")   # doctest: +SKIP
>>> data.counts()["buildings"]                            # doctest: +SKIP
482
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg2.extensions
import pyogrio
import shapely
from psycopg2.extras import execute_values
from pyproj import Transformer

from gis.crs import metric_srid_for
from gis.io.layer_import import LayerImportError, import_table
from gis.io.layer_rules import PERSONS_PER_HOUSEHOLD  # one figure for every estimate
from gis.io.network_import import NetworkImportError, import_lines
from gis.io.table import SourceTable

__all__ = [
    "DEFAULT_FLOORS",
    "FLOOR_AREA_PER_HOUSEHOLD_M2",
    "LIVING_SHARE",
    "OSM_CONFIG",
    "PERSONS_PER_HOUSEHOLD",
    "OsmData",
    "OsmImportError",
    "import_osm",
    "read_osm",
]

Connection = psycopg2.extensions.connection

# GDAL OSM driver configuration: the tags below become columns (keys laundered, ':' → '_')
OSM_CONFIG = Path(__file__).with_name("osmconf.ini")

# --- household estimate of residential buildings ------------------------------------------------
# OSM has no household counts. For buildings whose tags say residential, gridmap estimates
#   households = floor(footprint m² × floors × LIVING_SHARE / FLOOR_AREA_PER_HOUSEHOLD_M2)
#   residents  = round(households × PERSONS_PER_HOUSEHOLD)
# with floors from building:levels, DEFAULT_FLOORS when the tag is missing. Every other building
# gets 0. The figures are placeholders for planning until the community's own ledger is imported.
DEFAULT_FLOORS = 3                   # floors assumed when building:levels is missing or unreadable
LIVING_SHARE = 0.75                  # share of gross floor area that is dwellings (not walls,
#                                      stairs, corridors, shops on the ground floor)
FLOOR_AREA_PER_HOUSEHOLD_M2 = 90.0   # gross dwelling floor area of one household
ESTIMATE_NOTE = (f"households estimated from footprint × levels (residential buildings only): "
                 f"floor(footprint m² × floors ({DEFAULT_FLOORS} when building:levels is "
                 f"missing) × {LIVING_SHARE} / {FLOOR_AREA_PER_HOUSEHOLD_M2:g} m²), residents = "
                 f"round(households × {PERSONS_PER_HOUSEHOLD}) (2020 census household size)")

# --- tags → gridmap values -------------------------------------------------------------------
# building=* values by kind; where building=* says nothing (yes, roof …) amenity=* / shop=* decide
BUILDING_KINDS: dict[str, tuple[str, ...]] = {
    "residential": ("apartments", "residential", "house", "detached", "dormitory", "terrace",
                    "semidetached_house"),
    "office": ("office", "commercial"),
    "market": ("retail", "supermarket", "kiosk"),
    "school": ("school", "university", "kindergarten", "college"),
    "public": ("public", "civic", "government", "hospital", "train_station"),
}
AMENITY_KINDS: dict[str, tuple[str, ...]] = {
    "market": ("marketplace",),
    "school": ("school", "university", "kindergarten", "college"),
    "public": ("townhall", "hospital", "clinic", "library", "community_centre",
               "social_facility", "police", "fire_station", "courthouse"),
}
# ways a pedestrian walks on; motorways, trunk roads and their links are left out
WALKABLE_HIGHWAYS = ("footway", "path", "pedestrian", "steps", "living_street", "residential",
                     "service", "unclassified", "tertiary", "tertiary_link", "secondary",
                     "secondary_link", "primary", "primary_link", "road", "track", "cycleway",
                     "corridor")
NO_ACCESS = ("no", "private")             # access=* closing a way …
FOOT_ALLOWED = ("yes", "designated", "permissive")  # … unless foot=* opens it again
# amenity=* values imported as party-mass service centres, and their name when the OSM has none
CENTRE_AMENITIES: dict[str, str] = {
    "community_centre": "社区中心",
    "social_facility": "社会服务设施",
    "townhall": "政务服务中心",
}


class OsmImportError(ValueError):
    """The OSM file cannot be read or imported; the message names the file and what is wrong."""


@dataclass
class OsmData:
    """What :func:`read_osm` found in an extract.

    Attributes
    ----------
    buildings : SourceTable
        Fields of the ``buildings`` layer (:data:`gis.io.schema.LAYERS`): ``code`` (``osm:w<id>``
        for a way, ``osm:r<id>`` for a multipolygon relation), ``name``, ``kind``, ``floors``
        (nullable int), ``households`` and ``residents`` (estimated, see :data:`ESTIMATE_NOTE`);
        footprints are valid (Multi)Polygons in EPSG:4326. The frame also has ``osm_building``
        (the tag) and ``footprint_m2``, which the layer importer ignores.
    walkways : ndarray of LineString
        Walkable ways, EPSG:4326.
    boundaries : pandas.DataFrame
        ``boundary=administrative`` areas: ``code`` (``osm:r…`` / ``osm:w…``), ``name``,
        ``name_zh``, ``admin_level`` (int), ``area_m2``, ``geometry`` (valid MultiPolygon,
        EPSG:4326), largest first.
    centres : SourceTable
        Fields of the ``centers`` layer: ``code`` (``osm:n<id>`` for a node), ``name``,
        ``level`` ('community'), ``status`` ('existing'), ``building_code`` (the building the
        centre is in, when it is one of ``buildings``); points in EPSG:4326.
    source : str
        The file's name, for messages.
    metric_srid : int
        EPSG code of the CRS areas were measured in (:func:`gis.crs.metric_srid_for`).
    notes : list of str
        What the reader skipped or repaired.
    """

    buildings: SourceTable
    walkways: np.ndarray
    boundaries: pd.DataFrame
    centres: SourceTable
    source: str
    metric_srid: int
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Counts of what was read, for reports.

        Buildings, residential ones, those with levels, estimated households and residents,
        walkway lines, boundaries and centres.
        """
        b = self.buildings.frame
        return {
            "buildings": len(b),
            "residential": int((b["kind"] == "residential").sum()),
            "with_levels": int(b["floors"].notna().sum()),
            "households": int(b["households"].sum()),
            "residents": int(b["residents"].sum()),
            "walkways": len(self.walkways),
            "boundaries": len(self.boundaries),
            "centres": len(self.centres),
        }


# --- reading -------------------------------------------------------------------------------------

@contextmanager
def _osm_config(*, custom_indexing: bool = True) -> Iterator[None]:
    """Point GDAL's OSM driver at gridmap's osmconf.ini for one read, then restore the options.

    ``custom_indexing=False`` sets ``OSM_USE_CUSTOM_INDEXING=NO``: slower, but it reads files
    whose node ids do not increase (saved by an editor, ids negative or out of order).
    """
    options = {"OSM_CONFIG_FILE": str(OSM_CONFIG),
               "OSM_USE_CUSTOM_INDEXING": None if custom_indexing else "NO"}
    previous = {k: pyogrio.get_gdal_config_option(k) for k in options}
    pyogrio.set_gdal_config_options(options)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(previous)


def _quoted(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _read_layer(path: Path, layer: str, where: str, *, custom_indexing: bool = True
                ) -> pd.DataFrame:
    """One layer of the extract, features with a broken geometry (``None``) included."""
    try:
        with _osm_config(custom_indexing=custom_indexing), warnings.catch_warnings():
            # clipped extracts: GDAL warns about each way cut at the edge; those rows come back
            # without a geometry and are counted in the notes
            warnings.simplefilter("ignore", RuntimeWarning)
            df = pyogrio.read_dataframe(path, layer=layer, where=where, on_invalid="ignore")
    except Exception as exc:  # pyogrio raises several DataSource / field errors
        if custom_indexing and "OSM_USE_CUSTOM_INDEXING" in str(exc):
            raise _UnsortedError from None
        raise OsmImportError(f"{path}: cannot be read as an OSM extract (.osm or .osm.pbf): "
                             f"{exc}") from None
    return pd.DataFrame(df)


class _UnsortedError(Exception):
    """The file's node ids do not increase: read it again without GDAL's custom indexing."""


def _codes(df: pd.DataFrame) -> np.ndarray:
    """``osm:w<id>`` for a closed way, ``osm:r<id>`` for a relation (multipolygons layer)."""
    way = df["osm_way_id"].astype("string")
    rel = df["osm_id"].astype("string")
    return np.where(way.notna(), "osm:w" + way.fillna(""), "osm:r" + rel.fillna("")).astype(object)


def _polygonal(geoms: np.ndarray) -> tuple[np.ndarray, int]:
    """Valid MultiPolygons (``None`` where nothing polygonal is left) and how many were repaired."""
    out = np.full(len(geoms), None, dtype=object)
    present = ~shapely.is_missing(geoms)
    invalid = present & ~shapely.is_valid(geoms)
    fixed = geoms.copy()
    fixed[invalid] = shapely.make_valid(geoms[invalid])
    # two levels of parts: a repaired geometry may be a collection holding a MultiPolygon
    parts, index = shapely.get_parts(fixed[present], return_index=True)
    parts, sub = shapely.get_parts(parts, return_index=True)
    index = np.flatnonzero(present)[index[sub]]
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    parts, index = parts[keep], index[keep]
    if len(parts):
        rows = np.unique(index)
        out[rows] = shapely.multipolygons(parts, indices=np.searchsorted(rows, index))
    return out, int(invalid.sum())


def _to_metric(geoms: np.ndarray, srid: int) -> np.ndarray:
    to_m = Transformer.from_crs(4326, srid, always_xy=True)
    return shapely.transform(geoms, lambda xy: np.column_stack(to_m.transform(xy[:, 0],
                                                                               xy[:, 1])))


def _kind(tag: pd.Series, table: dict[str, tuple[str, ...]]) -> pd.Series:
    lookup = {value: kind for kind, values in table.items() for value in values}
    return tag.map(lookup)


def _text(s: pd.Series) -> pd.Series:
    """Strings with blanks as missing."""
    s = s.astype("string").str.strip()
    return s.mask(s == "")


def _floors(levels: pd.Series) -> pd.Series:
    """``building:levels`` as a whole number of floors in 1–200, missing when unreadable."""
    n = np.floor(pd.to_numeric(levels, errors="coerce"))
    return n.where((n >= 1) & (n <= 200)).astype("Int64")


def _buildings(mp: pd.DataFrame, geoms: np.ndarray, metric: np.ndarray, source: str,
               notes: list[str]) -> SourceTable:
    kind = (_kind(mp["building"], BUILDING_KINDS)
            .fillna(_kind(mp["amenity"], AMENITY_KINDS))
            .fillna(mp["shop"].notna().map({True: "market"}))
            .fillna("other"))
    floors = _floors(mp["building_levels"])
    area = shapely.area(metric)
    residential = (kind == "residential").to_numpy()
    levels = floors.fillna(DEFAULT_FLOORS).to_numpy(dtype=float)
    households = np.floor(area * levels * LIVING_SHARE / FLOOR_AREA_PER_HOUSEHOLD_M2 + 1e-9)
    households = np.where(residential, households, 0).astype(np.int64)
    residents = np.floor(households * PERSONS_PER_HOUSEHOLD + 0.5).astype(np.int64)
    address = (_text(mp["addr_street"]).fillna("") + " "
               + _text(mp["addr_housenumber"]).fillna("")).str.strip()
    name = (_text(mp["name"]).fillna(_text(mp["name_zh"]))
            .fillna(address.mask(address == "")))
    frame = pd.DataFrame({
        "code": _codes(mp), "name": name.astype(object).where(name.notna(), None),
        "kind": kind.to_numpy(), "floors": floors.array,
        "households": households, "residents": residents,
        "osm_building": mp["building"].to_numpy(), "footprint_m2": np.round(area, 1),
    })
    return SourceTable(frame=frame, geometry=geoms, rows=np.arange(1, len(frame) + 1),
                       source=source, crs="EPSG:4326", encoding="UTF-8",
                       notes=[*notes, ESTIMATE_NOTE] if residential.any() else list(notes))


def _boundaries(mp: pd.DataFrame, geoms: np.ndarray, metric: np.ndarray) -> pd.DataFrame:
    level = pd.to_numeric(mp["admin_level"], errors="coerce")
    ok = level.notna().to_numpy()
    out = pd.DataFrame({
        "code": _codes(mp)[ok], "name": _text(mp["name"])[ok].to_numpy(),
        "name_zh": _text(mp["name_zh"])[ok].to_numpy(),
        "admin_level": level[ok].astype(int).to_numpy(),
        "area_m2": shapely.area(metric[ok]), "geometry": geoms[ok],
    })
    return out.sort_values("area_m2", ascending=False, kind="stable").reset_index(drop=True)


def _centres(points: pd.DataFrame, mp: pd.DataFrame, mp_geoms: np.ndarray,
             buildings: SourceTable, source: str) -> SourceTable:
    node_geoms = points["geometry"].to_numpy()
    node_ok = ~shapely.is_missing(node_geoms)
    points, node_geoms = points[node_ok], node_geoms[node_ok]
    area_points = shapely.point_on_surface(mp_geoms)
    # an area tagged as a centre that holds a node tagged as one is the same centre: keep the node
    tree = shapely.STRtree(mp_geoms)
    _, dup = tree.query(node_geoms, predicate="within")
    area_keep = ~np.isin(np.arange(len(mp)), dup)
    mp, area_points, area_codes = mp[area_keep], area_points[area_keep], _codes(mp)[area_keep]
    codes = np.concatenate([("osm:n" + points["osm_id"].astype("string")).to_numpy(object),
                            area_codes])
    amenity = np.concatenate([points["amenity"].to_numpy(object), mp["amenity"].to_numpy(object)])
    name = pd.Series(np.concatenate([_text(points["name"]).fillna(_text(points["name_zh"]))
                                     .to_numpy(object),
                                     _text(mp["name"]).fillna(_text(mp["name_zh"]))
                                     .to_numpy(object)]), dtype="string")
    fallback = pd.Series(amenity).map(CENTRE_AMENITIES) + " " + pd.Series(codes)
    geoms = np.concatenate([node_geoms, area_points]).astype(object)
    # the building a centre is in: itself when the area is a building, else the one holding it
    building_code = np.full(len(codes), None, dtype=object)
    b_geoms = buildings.geometry
    if len(b_geoms) and len(codes):
        inside, held_by = shapely.STRtree(b_geoms).query(geoms, predicate="within")
        first = np.unique(inside, return_index=True)[1]
        building_code[inside[first]] = buildings.frame["code"].to_numpy()[held_by[first]]
    own = np.isin(codes, buildings.frame["code"].to_numpy())
    building_code[own] = codes[own]
    frame = pd.DataFrame({
        "code": codes, "name": name.fillna(fallback).astype(object).to_numpy(),
        "level": "community", "status": "existing", "building_code": building_code,
        "amenity": amenity,
    })
    return SourceTable(frame=frame, geometry=geoms, rows=np.arange(1, len(frame) + 1),
                       source=source, crs="EPSG:4326", encoding="UTF-8",
                       notes=["centres: OSM amenity=" + "/".join(CENTRE_AMENITIES)
                              + " as existing community-level centres"])


def _walkable(lines: pd.DataFrame) -> np.ndarray:
    foot = lines["foot"]
    closed = (lines["access"].isin(NO_ACCESS) & ~foot.isin(FOOT_ALLOWED)) | (foot == "no")
    geoms = lines["geometry"].to_numpy()
    keep = (lines["highway"].isin(WALKABLE_HIGHWAYS) & ~closed).to_numpy().copy()
    keep &= ~shapely.is_missing(geoms)
    keep[keep] &= ~shapely.is_empty(geoms[keep])
    return geoms[keep].astype(object)


def read_osm(path: str | Path) -> OsmData:
    """Read buildings, walkways, administrative boundaries and service centres of an extract.

    Parameters
    ----------
    path : str or Path
        An OpenStreetMap extract, ``.osm`` (XML) or ``.osm.pbf``.

    Returns
    -------
    OsmData
        Everything in EPSG:4326; buildings and centres as :class:`SourceTable` with the fields
        of the ``buildings`` and ``centers`` layers.

    Raises
    ------
    OsmImportError
        Missing file, a file GDAL's OSM driver cannot read, or an extract without a single
        building or walkway.

    Notes
    -----
    Ways cut at the edge of an extract have no geometry and are skipped (counted in
    ``notes``); invalid footprints are repaired with ``make_valid``. Residential buildings get
    households and residents *estimated* from their footprint and levels (:data:`ESTIMATE_NOTE`).
    """
    path = Path(path)
    if not path.exists():
        raise OsmImportError(f"{path}: no such file")
    source = path.name
    centre_values = _quoted(list(CENTRE_AMENITIES))
    wanted = {
        "multipolygons": f"(building IS NOT NULL AND building <> 'no') "
                         f"OR boundary = 'administrative' OR amenity IN ({centre_values})",
        "lines": f"highway IN ({_quoted(WALKABLE_HIGHWAYS)})",
        "points": f"amenity IN ({centre_values})",
    }
    notes: list[str] = []
    try:
        layers = {name: _read_layer(path, name, where) for name, where in wanted.items()}
    except _UnsortedError:
        notes.append("node ids out of order (a file saved by an editor?): read without "
                     "GDAL's custom indexing")
        layers = {name: _read_layer(path, name, where, custom_indexing=False)
                  for name, where in wanted.items()}
    mp, lines, points = layers["multipolygons"], layers["lines"], layers["points"]

    geoms, repaired = _polygonal(mp["geometry"].to_numpy())
    broken = shapely.is_missing(geoms)
    if broken.any():
        notes.append(f"{int(broken.sum())} areas cut at the edge of the extract or without a "
                     f"usable outline were skipped")
    if repaired:
        notes.append(f"{repaired} invalid outlines repaired with make_valid")
    mp, geoms = mp[~broken].reset_index(drop=True), geoms[~broken]

    walkways = _walkable(lines)
    everything = np.concatenate([geoms, walkways])
    if not len(everything):
        raise OsmImportError(f"{path}: no buildings and no walkways in the extract")
    x0, y0, x1, y1 = shapely.total_bounds(everything)
    srid = metric_srid_for((x0 + x1) / 2, (y0 + y1) / 2)
    metric = _to_metric(geoms, srid)

    is_building = (mp["building"].notna() & (mp["building"] != "no")).to_numpy()
    buildings = _buildings(mp[is_building].reset_index(drop=True), geoms[is_building],
                           metric[is_building], source, notes)
    is_boundary = (mp["boundary"] == "administrative").to_numpy()
    boundaries = _boundaries(mp[is_boundary].reset_index(drop=True), geoms[is_boundary],
                             metric[is_boundary])
    is_centre = mp["amenity"].isin(list(CENTRE_AMENITIES)).to_numpy()
    centres = _centres(points, mp[is_centre].reset_index(drop=True), geoms[is_centre],
                       buildings, source)
    return OsmData(buildings=buildings, walkways=walkways, boundaries=boundaries,
                   centres=centres, source=source, metric_srid=srid, notes=notes)



# --- importing -----------------------------------------------------------------------------------

# a street and community made for an extract without boundaries reach this far beyond its
# buildings' convex hull
HULL_BUFFER_M = 50.0
_DISTRICT_CODE = re.compile(r"^[0-9]{4}(?!00)[0-9]{2}0{6}$")


def extract_name(path: str | Path) -> str:
    """The name of an extract file without ``.osm`` / ``.osm.pbf`` (names made-up regions)."""
    name = Path(path).name
    return re.sub(r"(\.osm)?(\.pbf)?$", "", name, flags=re.IGNORECASE) or name


def _from_metric(geoms: np.ndarray, srid: int) -> np.ndarray:
    to_ll = Transformer.from_crs(srid, 4326, always_xy=True)
    return shapely.transform(geoms, lambda xy: np.column_stack(to_ll.transform(xy[:, 0],
                                                                               xy[:, 1])))


def _united(b: pd.DataFrame) -> pd.DataFrame:
    """One row per name (boundaries sharing a name are one region), largest first.

    Columns ``name``, ``alt`` (its ``name:zh``), ``geometry`` (valid MultiPolygon).
    """
    label = b["name"].fillna(b["name_zh"]).fillna("OSM " + b["code"])
    groups = b.assign(label=label).groupby("label", sort=False)  # a few hundred at most
    geoms = groups["geometry"].agg(lambda g: shapely.union_all(g.to_numpy()))
    out = pd.DataFrame({"name": geoms.index.to_numpy(object),
                        "alt": groups["name_zh"].first().reindex(geoms.index).to_numpy(object),
                        "geometry": _polygonal(geoms.to_numpy(object))[0]})
    return out[~shapely.is_missing(out["geometry"].to_numpy())].reset_index(drop=True)


def _match(united: pd.DataFrame, existing: dict[str, str]) -> np.ndarray:
    """Code of the existing region named like each boundary (by ``name`` or ``name:zh``)."""
    by_name = united["name"].map(existing)
    by_alt = united["alt"].map(existing)
    return by_name.fillna(by_alt).to_numpy(object)


def _serials(prefixes: np.ndarray, used: pd.Series, suffix: str, what: str) -> np.ndarray:
    """New codes ``prefix + serial + suffix``, serials after the largest in use per prefix."""
    start = pd.Series(prefixes).map(used).fillna(0).astype(int).to_numpy()
    serial = start + pd.Series(prefixes).groupby(prefixes).cumcount().to_numpy() + 1
    if (serial > 999).any():
        raise OsmImportError(f"no 3-digit {what} serial left under {prefixes[serial > 999][0]}")
    return np.array([f"{p}{n:03d}{suffix}" for p, n in zip(prefixes, serial, strict=True)],
                    dtype=object)


@dataclass
class _RegionPlan:
    """The regions an import needs: rows to create, kept regions missing a geometry, counts."""

    create: pd.DataFrame                  # code, name, level, parent_code, geometry
    fill: list[tuple[str, shapely.Geometry]]
    counts: dict[str, int]
    levels: dict[str, int | None]
    district_name: str


def _hull(data: OsmData) -> shapely.Geometry | None:
    """The buildings' convex hull, :data:`HULL_BUFFER_M` wider (EPSG:4326), or None."""
    geoms = data.buildings.geometry
    if not len(geoms):
        return None
    hull = shapely.convex_hull(shapely.multipoints(shapely.get_coordinates(geoms)))
    metric = _to_metric(np.array([hull], dtype=object), data.metric_srid)
    wide = _from_metric(shapely.buffer(metric, HULL_BUFFER_M), data.metric_srid)
    return _polygonal(wide)[0][0]


def _plan_regions(cur: psycopg2.extensions.cursor, data: OsmData, district: str, name: str,
                  admin_levels: tuple[int, int | None] | None) -> _RegionPlan:
    city = district[:4] + "00000000"
    cur.execute("SELECT code, level, name, parent_code, geom IS NOT NULL FROM regions"
                " WHERE code = %(city)s OR code LIKE %(prefix)s", {"city": city,
                                                                     "prefix": district[:6] + "%"})
    regions = pd.DataFrame(cur.fetchall(),
                           columns=["code", "level", "name", "parent_code", "has_geom"])
    regions["code"] = regions["code"].str.strip()
    regions["parent_code"] = regions["parent_code"].str.strip()
    here = regions.set_index("code")
    b = data.boundaries
    has_district = district in here.index
    district_name = here.at[district, "name"] if has_district else None

    # the district's own boundary: named like it, else the largest of the extract
    named = (b["name"].eq(district_name) | b["name_zh"].eq(district_name)).to_numpy(bool) \
        if district_name else np.zeros(len(b), bool)
    own = b[named].head(1) if named.any() else b.head(1)
    own_level = int(own["admin_level"].iloc[0]) if len(own) else None
    own_geom = own["geometry"].iloc[0] if len(own) else None
    if admin_levels is not None:
        street_level, community_level = admin_levels
        lower = b[b["admin_level"].isin([street_level, community_level])]
    else:
        lower = b[b["admin_level"] > own_level] if own_level is not None else b.iloc[:0]
        levels = sorted(lower["admin_level"].unique())
        street_level = int(levels[0]) if levels else None
        community_level = int(levels[1]) if len(levels) > 1 else None
    if own_geom is not None and (named.any() or not has_district) and len(lower):
        # boundaries of neighbouring districts, caught by the extract, stay out
        inside = shapely.within(shapely.point_on_surface(lower["geometry"].to_numpy()), own_geom)
        lower = lower[inside]

    hull = _hull(data)
    create: list[dict] = []
    if not has_district:
        own_name = own["name"].fillna(own["name_zh"]) if len(own) else pd.Series([], dtype=object)
        district_name = own_name.iloc[0] if len(own_name.dropna()) else name
        if city not in here.index:
            upper = b[b["admin_level"] < own_level] if own_level is not None else b.iloc[:0]
            upper_names = upper["name"].fillna(upper["name_zh"]).dropna()
            create.append({"code": city, "level": "city", "parent_code": None, "geometry": None,
                           "name": upper_names.iloc[0] if len(upper_names)
                           else f"{district_name}所在市"})
        create.append({"code": district, "level": "district", "parent_code": city,
                       "name": district_name,
                       "geometry": _polygonal(np.array([own_geom], dtype=object))[0][0]
                       if own_geom is not None else hull})

    # codes in use, for serials
    codes = regions["code"]
    street_used = pd.Series({district[:6]: codes.str[6:9].astype(int).max()
                             if len(codes) else 0})
    under = regions[regions["level"].eq("street") & regions["parent_code"].eq(district)]
    existing_streets = dict(zip(under["name"], under["code"], strict=True))
    under_c = regions[regions["level"].eq("community")
                      & regions["parent_code"].isin(under["code"])]
    existing_communities = dict(zip(under_c["name"], under_c["code"], strict=True))

    streets = (_united(lower[lower["admin_level"] == street_level])
               if street_level is not None else pd.DataFrame())
    communities = (_united(lower[lower["admin_level"] == community_level])
                   if community_level is not None and len(streets) else pd.DataFrame())
    if not len(streets):  # no boundaries: one street round the buildings
        if hull is None:
            raise OsmImportError(f"{data.source}: no administrative boundaries and no buildings "
                                 "to make a street and a community of")
        streets = pd.DataFrame({"name": [name], "alt": [None], "geometry": [hull]})
    if not len(communities):  # one community per street, covering it
        communities = streets.copy()
    streets["parent_code"] = district
    streets["code"] = _match(streets, existing_streets)
    new_street = streets["code"].isna().to_numpy()
    streets.loc[new_street, "code"] = _serials(np.full(new_street.sum(), district[:6], object),
                                               street_used, "000", "street")

    # each community under the street holding its inner point (else the nearest street)
    street_geoms = streets["geometry"].to_numpy()
    points = shapely.point_on_surface(communities["geometry"].to_numpy())
    tree = shapely.STRtree(street_geoms)
    parent = tree.query_nearest(points, return_distance=False)
    parent_of = np.zeros(len(points), int)
    parent_of[parent[0]] = parent[1]  # the nearest is the holding one when one holds it
    inside, holder = tree.query(points, predicate="within")
    first = np.unique(inside, return_index=True)[1]
    parent_of[inside[first]] = holder[first]
    communities["parent_code"] = streets["code"].to_numpy()[parent_of]
    communities["code"] = _match(communities, existing_communities)
    new_community = communities["code"].isna().to_numpy()
    community_used = (codes[codes.str[9:12] != "000"].str[9:12].astype(int)
                      .groupby(codes.str[:9]).max())
    communities.loc[new_community, "code"] = _serials(
        communities.loc[new_community, "parent_code"].str[:9].to_numpy(object),
        community_used, "", "community")

    for level, table, new in (("street", streets, new_street),
                              ("community", communities, new_community)):
        create += table.loc[new, ["code", "name", "parent_code", "geometry"]].assign(
            level=level).to_dict("records")
    kept = pd.concat([streets[~new_street], communities[~new_community]])
    no_geom = here.reindex(kept["code"])["has_geom"].eq(False).to_numpy()
    fill = list(zip(kept["code"][no_geom], kept["geometry"][no_geom], strict=True))
    return _RegionPlan(
        create=pd.DataFrame(create, columns=["code", "name", "level", "parent_code", "geometry"]),
        fill=fill,
        counts={"city_created": int(any(r["level"] == "city" for r in create)),
                "district_created": int(not has_district),
                "streets_created": int(new_street.sum()),
                "streets_kept": int((~new_street).sum()),
                "communities_created": int(new_community.sum()),
                "communities_kept": int((~new_community).sum())},
        levels={"district": own_level, "street": street_level, "community": community_level},
        district_name=str(district_name))


def _write_regions(conn: Connection, plan: _RegionPlan, source: str, user: str) -> None:
    """Create the planned regions (through the layer importer) and fill kept ones' outlines."""
    if len(plan.create):
        create = plan.create
        table = SourceTable(frame=create[["code", "name", "level", "parent_code"]],
                            geometry=create["geometry"].to_numpy(object),
                            rows=np.arange(1, len(create) + 1), source=source, crs="EPSG:4326")
        import_table(conn, "regions", table, user=user)
    if plan.fill:
        with conn.cursor() as cur:
            execute_values(cur, """
                UPDATE regions r SET geom = ST_Multi(ST_GeomFromWKB(decode(v.wkb, 'hex'), 4326))
                FROM (VALUES %s) v(code, wkb) WHERE r.code = v.code AND r.geom IS NULL""",
                           [(code, shapely.to_wkb(g, hex=True)) for code, g in plan.fill])


def _communities_of(conn: Connection, district: str, points: np.ndarray) -> np.ndarray:
    """Code of the community (of ``district``) holding each point, None where none does."""
    with conn.cursor() as cur:
        cur.execute("""
            SELECT c.code, ST_AsBinary(c.geom) FROM regions c
            JOIN regions s ON s.code = c.parent_code
            WHERE s.parent_code = %s AND c.level = 'community' AND c.geom IS NOT NULL
            ORDER BY c.code""", (district,))
        rows = cur.fetchall()
    out = np.full(len(points), None, dtype=object)
    if not rows or not len(points):
        return out
    codes = np.array([r[0].strip() for r in rows], dtype=object)
    tree = shapely.STRtree(shapely.from_wkb([bytes(r[1]) for r in rows]))
    inside, holder = tree.query(points, predicate="within")
    first = np.unique(inside, return_index=True)[1]  # overlapping communities: the lowest code
    out[inside[first]] = codes[holder[first]]
    return out


def _subset(table: SourceTable, columns: list[str], **extra: object) -> SourceTable:
    return SourceTable(frame=table.frame[columns].assign(**extra), geometry=table.geometry,
                       rows=table.rows, source=table.source, crs=table.crs,
                       encoding=table.encoding, notes=table.notes)


def import_osm(conn: Connection, path: str | Path, *, district: str, dry_run: bool = False,
               admin_levels: tuple[int, int | None] | None = None,
               user: str = "import") -> dict[str, Any]:
    """Import an OSM extract into ``district``: regions, buildings, centres, walking network.

    Parameters
    ----------
    conn : psycopg2 connection
        The caller's transaction: the import is one savepoint in it and the caller commits.
        Nothing is written on error or ``dry_run``.
    path : str or Path
        ``.osm`` or ``.osm.pbf`` extract.
    district : str
        12-digit code of the district (``530103000000``). Created when missing (with its city,
        ``code[:4] + '00000000'``), named after the largest administrative boundary of the
        extract, else after the file.
    dry_run : bool, default False
        Do everything, report the counts, then roll it back.
    admin_levels : (int, int or None), optional
        OSM ``admin_level`` of streets and of communities. By default the two lowest levels
        below the district's own boundary (the one named like the district, else the largest).
    user : str, default "import"
        Recorded by the layer importer.

    Returns
    -------
    dict
        ``district``, ``district_name``, ``admin_levels``; region counts ``city_created``,
        ``district_created``, ``streets_created`` / ``streets_kept``, ``communities_created`` /
        ``communities_kept``; ``buildings``, ``residential``, ``with_levels``, ``households``,
        ``residents`` (estimated), ``buildings_inserted`` / ``_updated`` / ``_unchanged``,
        ``buildings_outside`` (in no community of the district); ``centres`` and
        ``centres_inserted`` / ``_updated``; ``walkways`` (lines), ``nodes``, ``edges``,
        ``components``, ``length_km``; ``notes``; ``dry_run``.

    Raises
    ------
    OsmImportError
        Bad district code, unreadable extract, or rows the database refuses (the message names
        the layer and rows; nothing is written).

    Notes
    -----
    Streets and communities come from ``boundary=administrative`` areas: an existing region of
    the same level and name (``name`` or ``name:zh``) under the district keeps its code (and its
    outline, which is only filled in when it has none); others get codes after the largest
    serial in use (street: ``district[:6] + NNN + '000'``, community: ``street[:9] + NNN``).
    With only one level below the district each street gets one community covering it; with
    none, one street and one community cover the buildings' convex hull widened by
    :data:`HULL_BUFFER_M`, named after the file. Buildings are placed in the community holding
    their inner point (``ST_PointOnSurface``, as the coverage engine does). The walking network
    replaces the previous one (and the access results computed on it).
    """
    district = str(district).strip()
    if not _DISTRICT_CODE.match(district):
        raise OsmImportError(f"district {district!r} is not the 12-digit code of a district "
                             "(6 digits then 000000, e.g. 530103000000)")
    data = read_osm(path)
    if not len(data.buildings) and not len(data.walkways):
        raise OsmImportError(f"{path}: no buildings and no walkways in the extract")
    source = Path(path).name
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT osm_import")
    step = "regions"
    try:
        with conn.cursor() as cur:
            plan = _plan_regions(cur, data, district, extract_name(path), admin_levels)
        _write_regions(conn, plan, source, user)
        step = "buildings"
        buildings = data.buildings
        community = _communities_of(conn, district, shapely.point_on_surface(buildings.geometry))
        b_report = import_table(conn, "buildings", _subset(
            buildings, ["code", "name", "kind", "floors", "households", "residents"],
            community_code=community), user=user) if len(buildings) else None
        step = "centres"
        centres = _subset(data.centres, ["code", "name", "level", "status", "building_code"])
        c_report = import_table(conn, "centers", centres, user=user) if len(centres) else None
        step = "walking network"
        network = (import_lines(conn, data.walkways, source=source) if len(data.walkways)
                   else {"nodes": 0, "edges": 0, "components": 0, "length_km": 0.0})
    except (LayerImportError, NetworkImportError) as exc:
        _rollback(conn)
        message = str(exc).removeprefix(f"{source}: ")
        raise OsmImportError(f"{source}: {step}: {message}") from exc
    except BaseException:
        _rollback(conn)
        raise
    with conn.cursor() as cur:
        if dry_run:
            cur.execute("ROLLBACK TO SAVEPOINT osm_import")
        cur.execute("RELEASE SAVEPOINT osm_import")

    counts = data.counts()
    notes = list(data.notes)
    if counts["residential"]:
        notes.append(ESTIMATE_NOTE)
    if not len(data.walkways):
        notes.append("no walkways in the extract: the walking network was left as it was")
    return {
        "source": source, "district": district, "district_name": plan.district_name,
        "admin_levels": plan.levels, **plan.counts,
        "buildings": counts["buildings"], "residential": counts["residential"],
        "with_levels": counts["with_levels"], "households": counts["households"],
        "residents": counts["residents"],
        "buildings_inserted": b_report.inserted if b_report else 0,
        "buildings_updated": b_report.updated if b_report else 0,
        "buildings_unchanged": b_report.unchanged if b_report else 0,
        "buildings_outside": int(pd.isna(community).sum()),
        "centres": counts["centres"],
        "centres_inserted": c_report.inserted if c_report else 0,
        "centres_updated": c_report.updated if c_report else 0,
        "walkways": counts["walkways"], "nodes": network["nodes"], "edges": network["edges"],
        "components": network["components"], "length_km": network["length_km"],
        "notes": notes, "dry_run": dry_run,
    }


def _rollback(conn: Connection) -> None:
    with conn.cursor() as cur:
        cur.execute("ROLLBACK TO SAVEPOINT osm_import")
        cur.execute("RELEASE SAVEPOINT osm_import")
