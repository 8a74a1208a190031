"""A list at one release, as two dates see it: the units of ``from_date`` and what each of
them is on ``to_date``. Built with a handful of statements, then queried in memory."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy.orm import Session

from registry.config import today
from registry.errors import ValidationError
from registry.services.conversion.matcher import AddressMatcher
from registry.services.conversion.types import (
    AMBIGUOUS,
    EXACT,
    NOT_FOUND,
    Candidate,
    Conversion,
    Unit,
)
from registry.services.export_reads import (
    all_links,
    all_versions,
    check_release,
    entries_on,
    resolutions,
)
from registry.services.queries import EntryView, LinkView, Resolution

ADMIN_UNITS = "admin-units"


def units_of(versions: Mapping[str, EntryView]) -> dict[str, Unit]:
    """Every version as a :class:`Unit` with its district and province, on its own date."""
    out: dict[str, Unit] = {}
    for code, view in versions.items():
        district = province = None
        cursor = versions.get(view.parent) if view.parent else None
        seen = {code}
        while cursor is not None and cursor.code not in seen:
            seen.add(cursor.code)
            if cursor.level == "district":
                district = cursor
            elif cursor.level == "province":
                province = cursor
            cursor = versions.get(cursor.parent) if cursor.parent else None
        out[code] = Unit(view.code, view.name, view.type, view.level,
                         district.code if district else None,
                         district.name if district else None,
                         province.code if province else None,
                         province.name if province else None)
    return out


@dataclass
class Gazetteer:
    """Units on ``from_date`` (``old``) and on ``to_date`` (``new``) as ``release`` said,
    and the resolve answer on ``to_date`` of every old code."""

    list_key: str
    release: int
    from_date: date | None  # None: each unit as it was the day before its latest change
    to_date: date
    old: dict[str, Unit]
    new: dict[str, Unit]
    answers: dict[str, Resolution]
    _cache: dict[str, Conversion] = field(default_factory=dict, repr=False)
    _matcher: AddressMatcher | None = field(default=None, repr=False)

    def convert_code(self, code: str, district: str | None = None,
                     province: str | None = None) -> Conversion:
        """What the unit with ``code`` on ``from_date`` is on ``to_date``.

        ``district`` and ``province`` are the codes the input gives beside it, if any: when
        they contradict the unit's own, the row needs a person (``ambiguous``,
        ``code_conflicts``), whatever the lineage says.
        """
        code = code.strip()
        found = self._cache.get(code)
        if found is None:
            found = self._convert(code)
            if code in self.old:  # the memo is bounded by the list, whatever clients send
                self._cache[code] = found
        unit = found.old
        if unit is not None and (
                (district and unit.district_code and district.strip() != unit.district_code)
                or (province and unit.province_code
                    and province.strip() != unit.province_code)):
            return Conversion(AMBIGUOUS, 0.3, unit, found.new, "code_conflicts")
        return found

    def conversion_of(self, code: str) -> Conversion:
        """:meth:`convert_code` of a code known to be an old unit (for name matches)."""
        return self.convert_code(code)

    def convert_address(self, text: str) -> Conversion:
        """What the commune a free-text address names on ``from_date`` is on ``to_date``
        ("P. Quán Thánh, Q. Ba Đình, HN"); see :mod:`registry.services.conversion.matcher`."""
        return self.matcher.convert_address(text)

    def convert_names(self, commune: str | None, district: str | None = None,
                      province: str | None = None) -> Conversion:
        """:meth:`convert_address` of names given in separate fields (any may be missing)."""
        return self.matcher.convert_names(commune, district, province)

    @property
    def matcher(self) -> AddressMatcher:
        """The name index of the old units, built on first use (about a second)."""
        if self._matcher is None:
            self._matcher = AddressMatcher(self)
        return self._matcher

    def _convert(self, code: str) -> Conversion:
        unit = self.old.get(code)
        if unit is None:
            return Conversion(NOT_FOUND, 0.0, None, (), "unknown_code")
        answer = self.answers.get(code)
        if answer is None:
            return Conversion(NOT_FOUND, 0.0, unit, (), "no_successor")
        if answer.status == "active" and not answer.successors:
            return Conversion(EXACT, 1.0, unit, (Candidate(self._new(code), True),), "")
        candidates = tuple(Candidate(self._new(s.entry.code), s.is_default, s.kinds)
                           for s in answer.successors)
        if not candidates:
            return Conversion(NOT_FOUND, 0.0, unit, (), "no_successor")
        if len(candidates) == 1:
            return Conversion(EXACT, 1.0, unit, (candidates[0],), "")
        reason = "kept_code_gave_parts" if answer.status == "active" else "divided"
        return Conversion(AMBIGUOUS, 0.5, unit, candidates, reason)

    def _new(self, code: str) -> Unit:
        return self.new[code]


def _version_on(versions: list[EntryView], day: date) -> EntryView | None:
    for view in versions:
        if view.valid_from <= day and (view.valid_to is None or day < view.valid_to):
            return view
    return None


def before_latest_change(versions: list[EntryView], links: list[LinkView],
                         to_day: date) -> dict[str, Unit]:
    """Every unit as it was the day before its own latest change by ``to_day`` (a lineage
    link from it, or the end of one of its versions: a merge, a split, a rename, a move,
    its end), or on ``to_day`` if it never changed; its district and province as they were
    on that same day.

    This is the date old data most likely describes for that unit. One date for every
    unit would not do: after the reform of 2025-07-01, a single later change (a transfer
    in 2026) would move it past the end of every pre-reform commune.
    """
    by_code: dict[str, list[EntryView]] = defaultdict(list)
    for view in versions:
        by_code[view.code].append(view)
    changed: dict[str, date] = {}
    for link in links:
        if link.effective_date <= to_day:
            changed[link.from_code] = max(changed.get(link.from_code, link.effective_date),
                                          link.effective_date)
    for code, views in by_code.items():
        for view in views:
            if view.valid_to is not None and view.valid_to <= to_day:
                changed[code] = max(changed.get(code, view.valid_to), view.valid_to)
    out: dict[str, Unit] = {}
    for code, views in by_code.items():
        day = changed[code] - timedelta(days=1) if code in changed else to_day
        picked = _version_on(views, day)
        if picked is None or picked.status != "active":
            continue
        on_day = {picked.code: picked}
        cursor = picked
        while cursor.parent is not None and cursor.parent not in on_day:
            parent = _version_on(by_code.get(cursor.parent, []), day)
            if parent is None:
                break
            on_day[parent.code] = parent
            cursor = parent
        out[code] = units_of(on_day)[code]
    return out


def load_gazetteer(session: Session, from_date: date | None = None,
                   to_date: date | None = None, at_release: int | None = None,
                   list_key: str = ADMIN_UNITS) -> Gazetteer:
    """Read the snapshot (a handful of statements).

    ``to_date`` defaults to today in Viet Nam. Without ``from_date`` each unit is taken as
    it was the day before its own latest change by ``to_date`` (:func:`before_latest_change`:
    2025-06-30 for every unit the 2025 reform touched). ``at_release`` defaults to the
    latest release.
    """
    release = check_release(session, at_release)
    to_day = to_date or today()
    if from_date is not None and from_date > to_day:
        raise ValidationError("fromDate", "order",
                              f"{from_date.isoformat()} is after the target date "
                              f"{to_day.isoformat()}")
    links = all_links(session, list_key, release, to_day)
    if from_date is None:
        old = before_latest_change(all_versions(session, list_key, release), links, to_day)
    else:
        old = units_of({v.code: v for v in entries_on(session, list_key, from_date, release)})
    new_all = entries_on(session, list_key, to_day, release, statuses=None)
    # Every version of the target date takes part: successors are looked up among them.
    answers = resolutions(list_key, to_day, new_all, links)
    return Gazetteer(list_key, release, from_date, to_day, old,
                     units_of({v.code: v for v in new_all}), answers)
