"""The bundled data's sources, one module per list, each with the checks of its own facts.

``scripts/build_data.py`` runs them and writes ``registry/data/``; see docs/data-sources.md.
"""
