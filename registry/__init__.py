"""Shared reference-data registry (danh mục dùng chung) for Vietnamese e-Government."""

__version__ = "0.1.0"
