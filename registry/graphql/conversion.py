"""``convertCodes`` and ``convertAddresses``: conversion in bulk over GraphQL (DESIGN §11).

Both read one gazetteer per request (kept between requests, see
:mod:`registry.graphql.gazetteers`) and answer every item from memory, in input order.
A request takes at most :data:`MAX_ITEMS` items; the cost limit prices each item (see
:mod:`registry.graphql.limits`), so aliases cannot multiply that bound.
"""
# strawberry types its decorators for its own mypy plugin, which the project does not
# load; called with arguments they look untyped to plain mypy.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date

import strawberry

from registry.errors import ValidationError
from registry.graphql.gazetteers import GAZETTEERS
from registry.graphql.types import Info
from registry.services import conversion as service
from registry.services.conversion.types import STATUSES

MAX_ITEMS = 1_000
ITEM_ARGUMENTS = {"convertCodes": "codes", "convertAddresses": "addresses"}
"""The root fields that convert, and the argument holding their items (for the cost)."""


@strawberry.enum(description="How sure a conversion is.")
class ConversionStatus(enum.Enum):
    EXACT = "exact"
    MATCHED = "matched"
    AMBIGUOUS = "ambiguous"
    NOT_FOUND = "not_found"


@strawberry.type(description="A unit on one date, with the district and province it lay in "
                             "then (null where the list has none, as after the 2025 reform).")
class ConvertedUnit:
    code: str
    name: str
    type: str
    level: str
    district_code: str | None
    district_name: str | None
    province_code: str | None
    province_name: str | None


@strawberry.type(description="A unit on `toDate` that the old unit, or a part of it, became.")
class ConversionCandidate:
    unit: ConvertedUnit
    is_default: bool = strawberry.field(description="The usual choice for an address under the "
                                                    "old unit; the address decides.")
    kinds: list[str] = strawberry.field(description="The kinds (`whole`, `part`) of the links "
                                                    "followed, in order; empty for a unit that "
                                                    "kept its code.")


@strawberry.type(description="The answer for one input, in the order given.")
class Conversion:
    input: str
    status: ConversionStatus
    confidence: float = strawberry.field(description="0 to 1: 1 for a code or an exact name, "
                                                     "less for a corrected name or a choice a "
                                                     "person must make.")
    reason: str = strawberry.field(description="Why the status is what it is: `divided`, "
                                               "`kept_code_gave_parts`, `code_conflicts`, "
                                               "`same_name`, `unknown_code`, `no_successor`, "
                                               "…; empty when there is nothing to say.")
    old: ConvertedUnit | None = strawberry.field(
        description="The unit matched on `fromDate`; null when none fits, or when several do "
                    "(then see `alternatives`).")
    new: list[ConversionCandidate] = strawberry.field(
        description="The units on `toDate`, the default first: exactly one for EXACT and "
                    "MATCHED, every candidate for AMBIGUOUS.")
    alternatives: list[ConvertedUnit] = strawberry.field(
        description="The old units an ambiguous text fits, when it fits several.")


@strawberry.type(description="How many items got one status.")
class StatusCount:
    status: ConversionStatus
    count: int


@strawberry.type(description="A conversion of many items as one release said. Converting "
                             "again with `atRelease: release` and the same dates gives the "
                             "same answer.")
class ConversionResult:
    release: int = strawberry.field(description="The release the answer was computed at.")
    from_date: date | None = strawberry.field(
        description="The date the input describes; null when none was given: each unit is "
                    "then taken as it was the day before its own latest change by `toDate` "
                    "(2025-06-30 for every unit the 2025 reform touched).")
    to_date: date = strawberry.field(description="The date of the units converted to.")
    items: list[Conversion]
    counts: list[StatusCount] = strawberry.field(description="Items per status, every status "
                                                             "listed, in the order EXACT, "
                                                             "MATCHED, AMBIGUOUS, NOT_FOUND.")


def unit_object(unit: service.Unit) -> ConvertedUnit:
    """The GraphQL form of a unit."""
    return ConvertedUnit(code=unit.code, name=unit.name, type=unit.type, level=unit.level,
                         district_code=unit.district_code, district_name=unit.district_name,
                         province_code=unit.province_code, province_name=unit.province_name)


def conversion_object(text: str, found: service.Conversion) -> Conversion:
    """The GraphQL form of one answer."""
    return Conversion(
        input=text, status=ConversionStatus(found.status), confidence=found.confidence,
        reason=found.reason, old=unit_object(found.old) if found.old else None,
        new=[ConversionCandidate(unit=unit_object(c.unit), is_default=c.is_default,
                                 kinds=list(c.kinds)) for c in found.new],
        alternatives=[unit_object(u) for u in found.alternatives])


def check_items(argument: str, items: Sequence[str]) -> None:
    """At most :data:`MAX_ITEMS` per request."""
    if len(items) > MAX_ITEMS:
        raise ValidationError(argument, "max_items",
                              f"at most {MAX_ITEMS} items per request, not {len(items)}; "
                              "split the input, or convert a file with 'registry convert'")


def convert_code(gazetteer: service.Gazetteer, code: str) -> service.Conversion:
    """One code."""
    return gazetteer.convert_code(code)


def convert_address(gazetteer: service.Gazetteer, text: str) -> service.Conversion:
    """One free-text address."""
    return gazetteer.convert_address(text)


async def convert(info: Info, argument: str, items: list[str], list_key: str,
                  from_date: date | None, to_date: date | None, at_release: int | None,
                  one: Callable[[service.Gazetteer, str], service.Conversion],
                  ) -> ConversionResult:
    """Convert ``items`` with the gazetteer of these dates; the answer names its release."""
    check_items(argument, items)
    gazetteer = await GAZETTEERS.get(info.context, list_key, from_date, to_date, at_release)
    if one is convert_address:
        gazetteer = await GAZETTEERS.with_names(gazetteer)
    # A kept snapshot does not grow with what clients send: Gazetteer.convert_code
    # remembers known codes only, and the name index bounds its cache of readings.
    answers = [conversion_object(text, one(gazetteer, text)) for text in items]
    counted = Counter(a.status.value for a in answers)
    return ConversionResult(
        release=gazetteer.release, from_date=gazetteer.from_date, to_date=gazetteer.to_date,
        items=answers,
        counts=[StatusCount(status=ConversionStatus(s), count=counted[s]) for s in STATUSES])
