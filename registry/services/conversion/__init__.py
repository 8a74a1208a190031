"""Conversion: old codes and free-text addresses to the units of any date, in bulk.

``resolve`` in bulk (DESIGN §11): :class:`Gazetteer` is an in-memory snapshot of one list
at one release, the units of the date the data describes (``from_date``) and what each
became on ``to_date``; it answers code after code, and address after address, with no I/O
of its own, so the CLI, GraphQL and the web page share it. Every answer names its release.
"""

from registry.services.conversion.gazetteer import Gazetteer, load_gazetteer
from registry.services.conversion.types import STATUSES, Candidate, Conversion, Unit

__all__ = ["STATUSES", "Candidate", "Conversion", "Gazetteer", "Unit", "load_gazetteer"]
