"""The deterministic demo district (盘龙区, with 桃源社区 as the seeds describe it).

``build_demo(seed=...)`` makes the rows; ``load_demo(conn, data)`` writes them, replacing any
earlier demo. Same seed, same rows.
"""

from gis.demo.build import DemoData
from gis.demo.load import build_demo, load_demo

__all__ = ["DemoData", "build_demo", "load_demo"]
