"""Exporters: code lists out as CSV, JSON and XLSX."""
