"""gridmap: GIS for urban community party building (城市社区党建)."""

__version__ = "0.1.0"
