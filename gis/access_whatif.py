"""What-if access: evaluate a planner's edited set of centres without saving anything.

A :class:`WhatIf` holds the loaded network and the snapped buildings (the slow part, done once
per data version); :meth:`WhatIf.evaluate` takes the centres as the planner has them on the map
(existing ones moved or removed, new ones added) and returns, for one region, every building's
nearest centre by walking with its band, and the KPIs — in well under a second for a district.

Examples
--------
>>> with connection() as conn:                                        # doctest: +SKIP
...     session = WhatIf.load(conn)
...     centres = session.existing_centres()
...     centres.append({"lon": 102.72, "lat": 25.05, "level": "grid", "name": "新站"})
...     answer = session.evaluate(centres, region="530103001002")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import psycopg2.extensions
from pyproj import Transformer

from gis.access import LEVELS, AccessModel, Centres, band_of, community_kpis, summarize
from gis.access_store import fingerprint, load_model
from gis.config import Norms, get_settings
from gis.crs import dataset_metric_srid

__all__ = ["WhatIf", "WhatIfError"]

Connection = psycopg2.extensions.connection


class WhatIfError(ValueError):
    """A what-if centre is malformed (the message names which one and why)."""


@dataclass
class WhatIf:
    """The prepared network and buildings of one database, for what-if evaluations.

    Attributes
    ----------
    model : AccessModel
    buildings : DataFrame
        ``id``, ``community_code``, ``residents`` in the model's order.
    regions : dict
        Region code → set of the community codes under it.
    centres : DataFrame
        The stored centres (every status): ``id``, ``name``, ``level``, ``status``,
        ``radius_m`` (own or NaN), ``lon``, ``lat``.
    norms : Norms
    version : str
        Fingerprint of the data it was loaded from (reload when it changes).
    """

    model: AccessModel
    buildings: pd.DataFrame
    regions: dict[str, set[str]]
    centres: pd.DataFrame
    norms: Norms
    version: str

    @classmethod
    def load(cls, conn: Connection, *, norms: Norms | None = None) -> WhatIf:
        """Load and snap everything once (seconds at city scale)."""
        norms = norms or get_settings().norms
        srid = dataset_metric_srid(conn)
        model, buildings = load_model(conn, srid)
        with conn.cursor() as cur:
            cur.execute("SELECT code, parent_code, level FROM regions")
            rows = cur.fetchall()
            cur.execute("SELECT id, name, level, status, radius_m::float8, ST_X(geom), ST_Y(geom)"
                        " FROM service_centers ORDER BY id")
            centres = pd.DataFrame(cur.fetchall(), columns=["id", "name", "level", "status",
                                                            "radius_m", "lon", "lat"])
        children: dict[str, list[str]] = {}
        for code, parent, _ in rows:
            children.setdefault(parent, []).append(code)
        level = {code: lv for code, _, lv in rows}

        def communities(code: str) -> set[str]:
            if level[code] == "community":
                return {code}
            return set().union(*(communities(c) for c in children.get(code, [])))

        return cls(model=model, buildings=buildings,
                   regions={code: communities(code) for code in level}, centres=centres,
                   norms=norms, version=fingerprint(conn, norms))

    def existing_centres(self) -> list[dict[str, Any]]:
        """The stored existing centres in the form :meth:`evaluate` takes."""
        rows = self.centres[self.centres["status"] == "existing"]
        return [{"id": int(r.id), "name": r.name, "level": r.level, "lon": float(r.lon),
                 "lat": float(r.lat),
                 "radius_m": None if pd.isna(r.radius_m) else float(r.radius_m)}
                for r in rows.itertuples()]

    def _centres(self, items: list[dict[str, Any]]) -> Centres:
        ids, lon, lat, levels, radius = [], [], [], [], []
        for n, item in enumerate(items):
            where = f"centre {n + 1}" + (f" (id {item['id']})" if item.get("id") else "")
            try:
                x, y = float(item["lon"]), float(item["lat"])
            except (KeyError, TypeError, ValueError):
                raise WhatIfError(f"{where}: lon and lat must be numbers") from None
            if not (-180 <= x <= 180 and -90 <= y <= 90):
                raise WhatIfError(f"{where}: ({x}, {y}) is not a longitude/latitude")
            level = item.get("level")
            if level not in LEVELS:
                raise WhatIfError(f"{where}: level must be one of {', '.join(LEVELS)}")
            r = item.get("radius_m")
            try:
                r = self.norms.radius_for_level(level) if r in (None, "") else float(r)
            except (TypeError, ValueError):
                raise WhatIfError(f"{where}: radius_m must be a number") from None
            if not r > 0:
                raise WhatIfError(f"{where}: radius_m must be positive")
            ids.append(int(item["id"]) if item.get("id") else -(n + 1))
            lon.append(x)
            lat.append(y)
            levels.append(level)
            radius.append(r)
        to_metric = Transformer.from_crs(4326, self.model.network.srid, always_xy=True)
        xs, ys = to_metric.transform(np.asarray(lon, float), np.asarray(lat, float))
        return Centres(ids, np.column_stack([xs, ys]) if ids else np.zeros((0, 2)), levels,
                       radius)

    def evaluate(self, centres: list[dict[str, Any]], *,
                 region: str | None = None) -> dict[str, Any]:
        """Access of the buildings of ``region`` to the given centres.

        Parameters
        ----------
        centres : list of dict
            Every centre that serves in this scenario: ``lon``, ``lat``, ``level``, optional
            ``id`` (a stored centre; absent or null for a new one), ``radius_m`` and ``name``.
        region : str, optional
            Region whose buildings are returned and summed (default: all).

        Returns
        -------
        dict
            ``kpis`` (as in access reports), ``buildings`` (id, center_id, walk_m, straight_m,
            walk_band_m, within_radius_walk) and ``centers`` (id, residents assigned and within
            its radius). New centres have negative ids: -1 for the first item, -2 for the next …

        Raises
        ------
        WhatIfError
            If a centre is malformed, or ``region`` is unknown.
        """
        if region is not None and region not in self.regions:
            raise WhatIfError(f"region {region} is not in the regions table")
        c = self._centres(centres)
        result = self.model.evaluate(c)
        b = self.buildings
        mask = np.ones(len(b), dtype=bool) if region is None else \
            b["community_code"].isin(self.regions[region]).to_numpy()
        sel = np.flatnonzero(mask)
        kpis = summarize(community_kpis(result.take(sel), b["community_code"].to_numpy()[sel],
                                        b["residents"].to_numpy()[sel], self.norms.walk_bands_m),
                         self.norms.walk_bands_m)
        assigned = np.where(result.center >= 0, c.ids[np.maximum(result.center, 0)], 0) \
            if len(c) else np.zeros(len(b), dtype=np.int64)
        band = band_of(result.walk_m, self.norms.walk_bands_m)
        buildings = [
            {"id": int(b["id"].iat[i]),
             "center_id": int(assigned[i]) if result.center[i] >= 0 else None,
             "walk_m": None if np.isnan(result.walk_m[i]) else round(float(result.walk_m[i]), 1),
             "straight_m": None if np.isnan(result.straight_m[i])
             else round(float(result.straight_m[i]), 1),
             "walk_band_m": None if np.isnan(band[i]) else float(band[i]),
             "within_radius_walk": bool(result.within_radius_walk[i])}
            for i in sel]
        per_centre = pd.DataFrame({
            "center": result.center[sel], "residents": b["residents"].to_numpy()[sel],
            "within": np.where(result.walk_m[sel] <= c.radius_m[np.maximum(result.center[sel], 0)]
                               if len(c) else False, b["residents"].to_numpy()[sel], 0),
        })
        per_centre = per_centre[per_centre["center"] >= 0].groupby("center").sum()
        centers = [{"id": int(c.ids[i]), "residents": int(per_centre["residents"].get(i, 0)),
                    "residents_within_radius": int(per_centre["within"].get(i, 0))}
                   for i in range(len(c))]
        return {"region": region, "kpis": kpis, "buildings": buildings, "centers": centers}
