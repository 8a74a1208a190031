"""What a conversion answers: the old unit it matched, the new units, a status and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EXACT = "exact"          # the code (or an exact name) names one old unit; one new unit
MATCHED = "matched"      # a name matched after normalisation or correction; one new unit
AMBIGUOUS = "ambiguous"  # several new units (divided, or a kept code that gave parts away),
                         # or several old units fit the input: a person must choose
NOT_FOUND = "not_found"  # no old unit fits, or it has no successor on the target date
STATUSES = (EXACT, MATCHED, AMBIGUOUS, NOT_FOUND)


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit on one date, with the ancestors an address names."""

    code: str
    name: str
    type: str
    level: str
    district_code: str | None = None
    district_name: str | None = None
    province_code: str | None = None
    province_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"code": self.code, "name": self.name, "type": self.type, "level": self.level,
                "district": ({"code": self.district_code, "name": self.district_name}
                             if self.district_code else None),
                "province": ({"code": self.province_code, "name": self.province_name}
                             if self.province_code else None)}


@dataclass(frozen=True, slots=True)
class Candidate:
    """One unit on the target date that the old unit (or a part of it) became."""

    unit: Unit
    is_default: bool
    kinds: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**self.unit.as_dict(), "default": self.is_default, "kinds": list(self.kinds)}


@dataclass(frozen=True, slots=True)
class Conversion:
    """The answer for one input.

    ``old`` is the unit matched on the source date (``None`` when not found, or when
    several fit: then ``alternatives`` lists them). ``new`` holds the units on the target
    date, the default first: exactly one for ``exact`` and ``matched``. ``reason`` is a
    short code saying why the status is what it is (``divided``, ``kept_code_gave_parts``,
    ``same_name``, ``unknown_code``, ``no_successor``, …), ``confidence`` in [0, 1].
    """

    status: str
    confidence: float
    old: Unit | None
    new: tuple[Candidate, ...] = ()
    reason: str = ""
    alternatives: tuple[Unit, ...] = field(default=())

    @property
    def default(self) -> Candidate | None:
        """The default new unit, if there is one."""
        return self.new[0] if self.new and self.new[0].is_default else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"status": self.status, "confidence": self.confidence, "reason": self.reason,
                "old": self.old.as_dict() if self.old else None,
                "new": [c.as_dict() for c in self.new],
                "alternatives": [u.as_dict() for u in self.alternatives]}
