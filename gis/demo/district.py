"""The physical demo district: communities, grid cells, buildings, centres and streets.

Everything is built in metres (EPSG:4543) and converted to EPSG:4326 when loaded.
桃源社区 (530103002001) reproduces the seed's figures exactly: 43 residential buildings holding
2,743 households, 49 rental houses (出租房) holding the 520 migrant households (2,050 people),
3,263 households and 8,746 residents in all, 30 public units, 500 m × 500 m = 0.25 km².
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon

from gis.demo import names
from gis.demo.layout import Cell, Footprint, pack_rows, setbacks_for, split_rect

DISTRICT = "530103000000"
CITY = "530100000000"
TAOYUAN = "530103002001"

TAOYUAN_FIGURES = {
    "residential_buildings": 43, "households": 3263, "residents": 8746, "rental_buildings": 49,
    "migrant_households": 520, "migrant_residents": 2050, "public_units": 30,
}


@dataclass
class CommunitySpec:
    """How one demo community is laid out."""

    code: str
    street: str
    rect: tuple[float, float, float, float]
    nx: int
    ny: int
    centre_cell: int  # cell holding the community's 党群服务站 (and office)
    station_cells: tuple[int, ...] = ()  # cells with a grid-level 党群服务站
    street_centre: bool = False  # the street's 党群服务中心 is in centre_cell too


COMMUNITIES = [
    CommunitySpec(TAOYUAN, "530103002000", (0, 600, 500, 1100), 2, 4, 2, (0, 7)),
    CommunitySpec("530103002002", "530103002000", (500, 600, 1150, 1100), 2, 3, 4, (1,),
                  street_centre=True),
    CommunitySpec("530103002004", "530103002000", (0, 0, 550, 600), 2, 3, 2, ()),
    CommunitySpec("530103002005", "530103002000", (550, 0, 1150, 600), 2, 3, 3, (0,)),
    CommunitySpec("530103001001", "530103001000", (1150, 600, 1750, 1100), 2, 3, 0, (5,),
                  street_centre=True),
    CommunitySpec("530103001002", "530103001000", (1750, 600, 2400, 1100), 2, 3, 2, ()),
    CommunitySpec("530103001003", "530103001000", (1150, 0, 2400, 600), 4, 2, 0, (1, 5)),
]

# planted spatial defects (see gis.demo.planted for the full list of planted gaps)
HOLE = ("530103001003", 6, 70.0)  # community, cell, width of the uncovered strip on its east
OVERLAP = ("530103002004", 0, 1, 25.0)  # community, grid cell extended east into cell, metres
MERGED_PARTY = ("530103002002", 0, 1)  # party grid of cell 0 also covers cell 1 (no party grid 1)
OVER_NORM = ("530103002005", 4, 560)  # community, cell, households (above the 500 norm)


@dataclass
class DistrictLayout:
    """The physical district in metres."""

    communities: dict[str, Polygon] = field(default_factory=dict)
    cells: dict[str, list[Cell]] = field(default_factory=dict)
    hole_cells: dict[str, Cell] = field(default_factory=dict)
    centres: list[dict] = field(default_factory=list)
    path_lines: list[LineString] = field(default_factory=list)


def _allocate(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder), each ≥ min."""
    n = len(weights)
    spare = total - minimum * n
    if spare < 0:
        raise ValueError(f"cannot split {total} into {n} parts of at least {minimum}")
    raw = spare * np.asarray(weights, float) / np.sum(weights)
    parts = np.floor(raw).astype(int)
    short = spare - parts.sum()
    parts[np.argsort(-(raw - parts), kind="stable")[:short]] += 1
    return parts + minimum


def residential_footprint(rng: np.random.Generator, households: int) -> Footprint:
    """A slab (板楼) or tower (塔楼) sized for ``households``."""
    if households >= 95 and rng.random() < 0.7:
        per_floor = int(rng.integers(4, 7))
        floors = max(12, -(-households // per_floor))
        return Footprint(24.0, 24.0, {"form": "tower", "floors": min(floors, 33)})
    units = 2 if households < 40 else (3 if households < 70 else 4)
    floors = max(5, -(-households // (2 * units)))
    return Footprint(16.0 * units, 13.0, {"form": "slab", "floors": min(floors, 18)})


def _residential(rng, households_total: int, n: int, compound: str) -> list[Footprint]:
    weights = rng.uniform(0.6, 1.6, size=n)
    out = []
    for i, h in enumerate(_allocate(households_total, weights, minimum=18)):
        fp = residential_footprint(rng, int(h))
        fp.attrs.update(kind="residential", households=int(h), name=f"{compound}{i + 1}栋")
        out.append(fp)
    return out


def _public(kind: str, form: str, width: float, depth: float, floors: int, name: str,
            **attrs) -> Footprint:
    return Footprint(width, depth, {"kind": kind, "form": form, "floors": floors,
                                    "households": 0, "name": name, **attrs})


def _taoyuan_cells(rng, cells: list[Cell]) -> None:
    """Fill 桃源's eight cells so the seed's totals hold exactly."""
    fig = TAOYUAN_FIGURES
    grid_households = _allocate(fig["households"], rng.uniform(0.9, 1.1, 8), minimum=340)
    rental_per_cell = np.zeros(8, int)
    rental_per_cell[4:] = _allocate(fig["rental_buildings"], np.ones(4), minimum=10)
    rental_h_per_cell = np.zeros(8, int)
    rental_h_per_cell[4:] = _allocate(fig["migrant_households"], rental_per_cell[4:], minimum=0)
    res_per_cell = _allocate(fig["residential_buildings"], np.ones(8), minimum=4)
    public = {
        0: [_public("public", "hall", 36, 18, 3, "桃源社区党群服务站", office=True)],
        1: [_public("school", "campus", 60, 40, 4, "桃源小学", units=1)],
        2: [_public("office", "tower", 40, 20, 12, "桃源商务楼", units=8)],
        3: [_public("market", "hall", 50, 28, 2, "桃源农贸市场", units=5),
            _public("public", "hall", 30, 16, 4, "鼓楼片区公共服务楼", units=16)],
    }
    compounds = rng.choice(names.COMPOUNDS, size=8, replace=False)
    for i, cell in enumerate(cells):
        res_h = int(grid_households[i] - rental_h_per_cell[i])
        fps = _residential(rng, res_h, int(res_per_cell[i]), f"桃源{compounds[i]}")
        rentals = _allocate(int(rental_h_per_cell[i]), rng.uniform(0.7, 1.3, rental_per_cell[i]),
                            minimum=4) if rental_per_cell[i] else []
        for j, h in enumerate(rentals):
            fps.append(Footprint(12.0, 10.0, {
                "kind": "other", "form": "low_rise", "floors": int(rng.integers(3, 6)),
                "households": int(h), "migrant": True, "is_rental": True,
                "name": f"桃源出租房{i - 3}-{j + 1}"}))
        fps = public.get(i, []) + sorted(fps, key=lambda f: -f.depth)
        pack_rows(cell, fps)


def _ordinary_cells(rng, spec: CommunitySpec, cells: list[Cell]) -> None:
    compounds = rng.choice(names.COMPOUNDS, size=len(cells), replace=False)
    short = spec.code[-3:]
    for i, cell in enumerate(cells):
        target = int(rng.integers(340, 470))
        if (spec.code, i) == OVER_NORM[:2]:
            target = OVER_NORM[2]
        n = max(4, round(target / 75))
        fps = _residential(rng, target, n, str(compounds[i]))
        extra = []
        if i == spec.centre_cell:
            extra.append(_public("public", "hall", 36, 18, 3, f"社区{short}党群服务站",
                                 office=True))
            if spec.street_centre:
                extra.append(_public("public", "hall", 44, 22, 5, "街道党群服务中心",
                                     street_office=True))
        if i == len(cells) - 1:
            extra.append(_public("office", "tower", 36, 24, 20, f"{compounds[i]}商务大厦",
                                 units=4))
        if i == 1:
            extra.append(_public("school", "campus", 56, 36, 4, f"第{short}中学", units=1))
        if i == len(cells) - 2:
            extra.append(_public("market", "hall", 46, 26, 2, f"{compounds[i]}商业广场", units=3))
        if i == 3 and spec.nx * spec.ny >= 6:
            extra.append(_public("park", "campus", 70, 40, 1, f"{compounds[i]}文化创意园",
                                 units=3))
        pack_rows(cell, extra + sorted(fps, key=lambda f: -f.depth))


def build_layout(rng: np.random.Generator) -> DistrictLayout:
    """Lay out every community of the demo district.

    Parameters
    ----------
    rng
        The demo's random generator (same seed, same layout).

    Returns
    -------
    DistrictLayout
        Communities, grid cells with packed footprints, centre sites, compound paths.
    """
    out = DistrictLayout()
    for spec in COMMUNITIES:
        cells = [Cell(r, setbacks_for(r, spec.rect)) for r in split_rect(spec.rect, spec.nx,
                                                                          spec.ny)]
        if spec.code == OVERLAP[0]:
            _, _, into, metres = OVERLAP
            w, s, e, n = cells[into].setbacks
            cells[into].setbacks = (w + metres + 4, s, e, n)  # keep the overlap strip empty
        if spec.code == HOLE[0]:
            _, idx, width = HOLE
            x0, y0, x1, y1 = cells[idx].rect
            w, s, e, n = cells[idx].setbacks
            cells[idx] = Cell((x0, y0, x1 - width, y1), (w, s, 4.0, n))
            hole = Cell((x1 - width, y0, x1, y1), (4.0, s, e, n))
            pack_rows(hole, [Footprint(14.0, 11.0, {
                "kind": "residential", "form": "low_rise", "floors": 3, "households": 12 + k,
                "name": f"白塔老街{k + 1}号"}) for k in range(3)])
            out.hole_cells[spec.code] = hole
        if spec.code == TAOYUAN:
            _taoyuan_cells(rng, cells)
        else:
            _ordinary_cells(rng, spec, cells)
        out.cells[spec.code] = cells
        # the union keeps every cell corner as a vertex, so grid and community edges share
        # their vertices exactly (and still do after conversion to degrees)
        pieces = [c.polygon for c in cells]
        if spec.code in out.hole_cells:
            pieces.append(out.hole_cells[spec.code].polygon)
        out.communities[spec.code] = shapely.union_all(pieces)
        for cell in cells + ([out.hole_cells[spec.code]] if spec.code in out.hole_cells else []):
            x0, _, x1, _ = cell.rect
            out.path_lines.extend(LineString([(x0, y), (x1, y)]) for y in cell.path_ys)
    return out


def all_rects(layout: DistrictLayout) -> list[tuple[float, float, float, float]]:
    """Every rectangle whose edges are streets: communities and grid cells."""
    rects = [c.bounds for c in layout.communities.values()]
    for code, cells in layout.cells.items():
        rects.extend(c.rect for c in cells)
        if code in layout.hole_cells:
            rects.append(layout.hole_cells[code].rect)
    return rects
