"""Choosing the projected CRS in which a dataset is measured in metres.

Coordinates are stored in EPSG:4326; lengths, areas and distances are measured in the CGCS2000
3-degree Gauss-Krüger zone of the data (EPSG:4534–4554, central meridians 75°E–135°E) inside
China's longitudes, and in the UTM zone elsewhere.
"""

from __future__ import annotations

import math

import psycopg2.extensions

GK_FIRST_EPSG = 4534  # CGCS2000 / 3-degree Gauss-Kruger CM 75E
GK_FIRST_CM = 75
GK_LAST_CM = 135


def metric_srid_for(lon: float, lat: float) -> int:
    """EPSG code of the metric CRS for a point.

    Parameters
    ----------
    lon, lat
        Degrees (EPSG:4326).

    Returns
    -------
    int
        The CGCS2000 3° Gauss-Krüger zone for longitudes 73.5°–136.5°E between 3°N and 54°N,
        otherwise the WGS 84 UTM zone.

    Examples
    --------
    >>> metric_srid_for(102.7, 25.04)  # Kunming: CM 102°E
    4543
    >>> metric_srid_for(2.35, 48.85)  # Paris: UTM 31N
    32631
    """
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(f"({lon}, {lat}) is not a longitude/latitude in degrees")
    if GK_FIRST_CM - 1.5 <= lon < GK_LAST_CM + 1.5 and 3 <= lat <= 54:
        zone = round((lon - GK_FIRST_CM) / 3)
        return GK_FIRST_EPSG + zone
    utm = min(int(math.floor((lon + 180) / 6)) + 1, 60)
    return (32600 if lat >= 0 else 32700) + utm


def dataset_metric_srid(conn: psycopg2.extensions.connection, *,
                        region_codes: list[str] | None = None) -> int:
    """Metric CRS for the data in the database (or the given regions), from its centre."""
    with conn.cursor() as cur:
        cur.execute("""
            SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)::geometry) AS c
            FROM (SELECT geom FROM regions WHERE geom IS NOT NULL
                    AND (%(codes)s::text[] IS NULL OR code = ANY(%(codes)s))
                  UNION ALL SELECT geom FROM buildings WHERE %(codes)s::text[] IS NULL) g) x
        """, {"codes": region_codes})
        row = cur.fetchone()
    if row is None or row[0] is None:
        return 4543  # an empty database: Kunming's zone, harmless
    return metric_srid_for(row[0], row[1])
