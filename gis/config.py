"""Settings: database location and the planning norms, from the environment or gridmap.toml.

Norms are never hard-coded in the engines; they read them from :class:`Settings`.
Precedence: environment variables > ``gridmap.toml`` in the project root (or the file named
by ``GRIDMAP_CONFIG``) > defaults below.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Norms:
    """Planning norms from the seeds and GB 50180-2018 (all configurable)."""

    # service radius per centre level, metres (street 1,000 m; community 500 m; grid 300 m)
    radius_street_m: float = 1000.0
    radius_community_m: float = 500.0
    radius_grid_m: float = 300.0
    radius_building_m: float = 150.0
    # life-circle walking bands, metres (5-, 10-, 15-minute)
    walk_bands_m: tuple[float, ...] = (300.0, 500.0, 1000.0)
    # a building or centre further than this from the walking network is flagged (m)
    snap_flag_m: float = 150.0
    # half-width of the street corridor drawn as a walking isochrone (m)
    isochrone_buffer_m: float = 40.0
    # households per urban grid
    grid_households_min: int = 300
    grid_households_max: int = 500
    # branch rules: >= 3 full members -> own branch; >= 7 -> branch committee
    branch_min_members: int = 3
    branch_committee_members: int = 7
    # a residential building this large should have a building party group (楼栋党小组)
    building_group_min_households: int = 60
    # party grid vs governance grid: IoU below this is a mismatch
    layer_iou_min: float = 0.9
    # holes, overlaps and overhangs smaller than this are digitising noise, not gaps (m²)
    gap_min_area_m2: float = 1.0
    # a building is split when at least two grids each hold more than this of it (m²)
    building_split_min_m2: float = 0.5

    def radius_for_level(self, level: str) -> float:
        """Return the default service radius in metres of a centre level."""
        return {
            "street": self.radius_street_m,
            "community": self.radius_community_m,
            "grid": self.radius_grid_m,
            "building": self.radius_building_m,
        }[level]


@dataclass(frozen=True)
class Settings:
    """Where gridmap keeps its data and which database it uses."""

    root: Path = PROJECT_ROOT
    var_dir: Path = PROJECT_ROOT / "var"
    database_url: str | None = None  # None: the embedded cluster under var/pg
    database_name: str = "gridmap"
    pg_port: int = 5432
    pool_max: int = 8
    migrations_dir: Path = PROJECT_ROOT / "migrations"
    basemap: str = "none"  # none | osm | tianditu | gaode
    tianditu_key: str = ""
    norms: Norms = field(default_factory=Norms)


def _from_toml(path: Path) -> dict:
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        return tomllib.load(fh)


def load_settings() -> Settings:
    """Build :class:`Settings` from defaults, ``gridmap.toml`` and the environment.

    Returns
    -------
    Settings
        The effective settings.

    Raises
    ------
    ValueError
        If the config file names a setting that does not exist.
    """
    cfg_path = Path(os.environ.get("GRIDMAP_CONFIG", PROJECT_ROOT / "gridmap.toml"))
    raw = _from_toml(cfg_path)
    norms_raw = raw.pop("norms", {})
    known = {f.name for f in fields(Settings)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{cfg_path}: unknown setting(s) {sorted(unknown)}")
    norm_names = {f.name for f in fields(Norms)}
    if set(norms_raw) - norm_names:
        raise ValueError(f"{cfg_path}: unknown norm(s) {sorted(set(norms_raw) - norm_names)}")
    if "walk_bands_m" in norms_raw:
        norms_raw["walk_bands_m"] = tuple(float(b) for b in norms_raw["walk_bands_m"])
    for key in ("root", "var_dir", "migrations_dir"):
        if key in raw:
            raw[key] = Path(raw[key])
    settings = Settings(**raw, norms=Norms(**norms_raw))
    env = os.environ
    if env.get("GRIDMAP_VAR_DIR"):
        settings = replace(settings, var_dir=Path(env["GRIDMAP_VAR_DIR"]).resolve())
    if env.get("DATABASE_URL"):
        settings = replace(settings, database_url=env["DATABASE_URL"])
    if env.get("GRIDMAP_BASEMAP"):
        settings = replace(settings, basemap=env["GRIDMAP_BASEMAP"])
    if env.get("TIANDITU_KEY"):
        settings = replace(settings, tianditu_key=env["TIANDITU_KEY"])
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (loaded once)."""
    return load_settings()
