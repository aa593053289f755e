"""Importers and exporters: files in and out of the gridmap tables and reports."""
