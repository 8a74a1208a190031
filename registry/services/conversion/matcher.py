"""Free-text addresses to the commune they name on the source date, then on to the target.

The index is built once from the gazetteer's old units: folded name → units, per province
(districts) and per district and province (communes), and nationally for addresses that
leave the province out. An address is split into parts; the province is looked for from
the end, the district among the other parts, then the commune in that district. Parts in
another order, an omitted district or province, and one wrong letter are tolerated, but
each costs confidence and is named in the reason. Once the old commune is unique, the new
units are the lineage answer for its code (:meth:`Gazetteer.conversion_of`), so a name and
a code of the same commune convert alike. Several communes that fit the same scope are
``ambiguous`` (``same_name``) with every one of them: nothing is guessed silently.

The hot path is dictionary look-ups; reading a part (folding, type words) is cached.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

from registry.services.conversion.normalize import (
    ABBREVIATIONS,
    IGNORED_PARTS,
    PROVINCE_ALIASES,
    TYPE_WORDS,
    Part,
    Reading,
    name_keys,
    read_part,
    split_address,
)
from registry.services.conversion.types import (
    AMBIGUOUS,
    EXACT,
    MATCHED,
    NOT_FOUND,
    Conversion,
    Unit,
)

if TYPE_CHECKING:
    from registry.services.conversion.gazetteer import Gazetteer

# What had to be guessed, as bits; each multiplies the confidence by its factor. A spelling
# correction alone gives 0.8: a corrected name is never reported with confidence ≥ 0.9.
ABBREVIATION, REORDERED, NO_DISTRICT, NO_PROVINCE = 1, 2, 4, 8
SPELLING, TYPE_DIFFERS, UNEXPLAINED, DISTRICT_DIFFERS, NO_SEPARATORS = 16, 32, 64, 128, 256
GUESSES: tuple[tuple[int, str, float], ...] = (
    (ABBREVIATION, "abbreviation", 0.97),     # "P.", "Q1", "HN", "04": expanded
    (REORDERED, "reordered", 0.93),           # the parts are not commune, district, province
    (NO_DISTRICT, "no_district", 0.88),       # the commune is unique in its province
    (NO_PROVINCE, "no_province", 0.85),       # ... or in the country
    (SPELLING, "spelling", 0.8),              # one letter added, dropped, changed or swapped
    (TYPE_DIFFERS, "type_differs", 0.9),      # "Xã X" for what is "Thị trấn X"
    (UNEXPLAINED, "unexplained_part", 0.7),   # a part after the commune names nothing
    (DISTRICT_DIFFERS, "district_differs", 0.6),  # the district named is another one
    (NO_SEPARATORS, "no_separators", 0.95),   # parts told apart by the names themselves
)
SAME_NAME = "same_name"        # several units fit the same scope
SIMILAR_NAMES = "similar_names"  # several names are one letter away from the input
MIN_FUZZY = 4                  # shorter names are one letter away from too many others
_PART_CACHE_LIMIT = 200_000

Units = tuple[Unit, ...]
Table = dict[str, Units]


@lru_cache(maxsize=4096)
def confidence(flags: int) -> float:
    """The confidence of a unique match that needed the guesses in ``flags``."""
    value = 1.0
    for bit, _, factor in GUESSES:
        if flags & bit:
            value *= factor
    return round(value, 2)


@lru_cache(maxsize=4096)
def reason(flags: int) -> str:
    """The guesses in ``flags`` as a reason code: ``"abbreviation+no_district"``."""
    return "+".join(name for bit, name, _ in GUESSES if flags & bit)


def _deletions(word: str) -> list[str]:
    return [word[:i] + word[i + 1:] for i in range(len(word))]


_DIGITS = re.compile(r"\d+")


def one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by one inserted, deleted, changed or swapped letter."""
    la, lb = len(a), len(b)
    if la < lb:
        a, b, la, lb = b, a, lb, la
    if la - lb > 1 or a == b:
        return False
    i = 0
    while i < lb and a[i] == b[i]:
        i += 1
    if la != lb:
        return a[i + 1:] == b[i:]
    return a[i + 1:] == b[i + 1:] or (
        i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2:] == b[i + 2:])


class Neighbours:
    """Names one edit away, by their deletion neighbourhoods (SymSpell, distance 1).

    A name is filed under itself and under every string one deletion away; a word finds
    its neighbours under itself and its own deletions, then each is checked. A correction
    never changes a number: "Phường 4" is not one letter from "Phường 5".
    """

    def __init__(self, keys: Iterable[str]) -> None:
        self._filed: dict[str, list[str]] = {}
        for key in set(keys):
            if len(key) < MIN_FUZZY:
                continue
            for entry in (key, *_deletions(key)):
                self._filed.setdefault(entry, []).append(key)

    def near(self, word: str) -> list[str]:
        """The names one edit from ``word`` (not ``word`` itself)."""
        if len(word) < MIN_FUZZY:
            return []
        found: set[str] = set(self._filed.get(word, ()))
        for deleted in _deletions(word):
            found.update(self._filed.get(deleted, ()))
        digits = _DIGITS.findall(word)
        return sorted(k for k in found if k != word and one_edit(word, k)
                      and ((not digits and not _DIGITS.search(k))
                           or _DIGITS.findall(k) == digits))


class Match(NamedTuple):
    """The old units that fit an address, and what was guessed to find them."""

    units: Units
    flags: int
    reason: str = ""
    skipped: bool = False  # parts before the commune were passed over (a street, or
                           # a name split at its own dash)


@lru_cache(maxsize=64)
def _pairs(m: int) -> tuple[tuple[int, int], ...]:
    """(district part, commune part) to try, the usual order (…, commune, district) first,
    then the two swapped, then the rest."""
    pairs = [(d, c) for d in range(m) for c in range(m) if d != c]

    def rank(pair: tuple[int, int]) -> tuple[int, int, int]:
        d, c = pair
        kind = 0 if (d, c) == (m - 1, m - 2) else 1 if c == d - 1 else 2 if c == d + 1 else 3
        return kind, -max(d, c), -d
    return tuple(sorted(pairs, key=rank))


class AddressMatcher:
    """The index of one gazetteer's old units, and the matching of addresses against it."""

    def __init__(self, gazetteer: Gazetteer) -> None:
        self._gazetteer = gazetteer
        self._type: dict[str, str] = {}
        self._accented: dict[str, str | None] = {}
        self._keys: dict[str, tuple[str, ...]] = {}
        self._provinces: dict[str, tuple[str, bool]] = {}
        self._districts: dict[str | None, Table] = {None: {}}
        self._communes: dict[str | None, Table] = {None: {}}
        self._in_district: dict[str, Table] = {}
        self._parts: dict[str, Part] = {}
        self._dashed: set[str] = set()  # names with a spaced dash ("Bà Rịa - Vũng Tàu")
        self._results: dict[tuple[str, int], Conversion] = {}
        self._build(gazetteer.old.values())
        self._near_provinces = Neighbours(self._provinces)
        self._near_districts = Neighbours(self._districts[None])
        self._near_communes = Neighbours(self._communes[None])

    # -- the index -------------------------------------------------------------------

    def _build(self, units: Iterable[Unit]) -> None:
        ordered = sorted(units, key=lambda u: u.code)
        for unit in ordered:
            type_, accented, keys = name_keys(unit.name, unit.type)
            self._type[unit.code] = type_
            self._accented[unit.code] = accented
            self._keys[unit.code] = keys
        for unit in ordered:
            keys = self._keys[unit.code]
            if " - " in unit.name:
                self._dashed.update(keys)
            if unit.level == "province":
                for key in keys:
                    self._provinces.setdefault(key, (unit.code, False))
                    self._provinces.setdefault(key.replace(" ", ""), (unit.code, True))
                for alias in PROVINCE_ALIASES.get(keys[0], ()):
                    self._provinces.setdefault(alias, (unit.code, True))
            elif unit.level == "district" and unit.province_code:
                for scope in (unit.province_code, None):
                    table = self._districts.setdefault(scope, {})
                    for key in keys:
                        table[key] = (*table.get(key, ()), unit)
            elif unit.level == "commune" and unit.district_code and unit.province_code:
                for table in (self._in_district.setdefault(unit.district_code, {}),
                              self._communes.setdefault(unit.province_code, {}),
                              self._communes[None]):
                    for key in keys:
                        table[key] = (*table.get(key, ()), unit)

    def part(self, text: str) -> Part:
        """``text`` read as one part of an address (cached)."""
        found = self._parts.get(text)
        if found is None:
            if len(self._parts) >= _PART_CACHE_LIMIT:
                self._parts.clear()
            found = self._parts[text] = read_part(text)
        return found

    def _words(self, words: Sequence[str]) -> Part:
        return self.part(" ".join(words))

    # -- look-ups ----------------------------------------------------------------------

    @staticmethod
    def _find(table: Table, readings: tuple[Reading, ...]) -> tuple[Units, Reading | None]:
        for reading in readings:
            units = table.get(reading.key)
            if units:
                return units, reading
        return (), None

    def _find_near(self, near: Neighbours, tables: Sequence[Table],
                   readings: tuple[Reading, ...]) -> tuple[Units, Reading | None, bool]:
        """Units one edit from the part's name in any of ``tables``; and whether they
        come from more than one name."""
        for reading in readings:
            names: set[str] = set()
            units: list[Unit] = []
            for key in near.near(reading.key):
                for table in tables:
                    found = table.get(key)
                    if found:
                        names.add(key)
                        units.extend(found)
            if units and len(names) > 1 and reading.accented is not None:
                # The diacritics the input kept are evidence too: "Hồng pĩnh" is one
                # letter from "Hồng Lĩnh", two from "Hồng Minh".
                accented = reading.accented
                closer = [u for u in units if (self._accented[u.code] or "") == accented
                          or one_edit(accented, self._accented[u.code] or "")]
                if closer:
                    units = closer
                    names = {self._keys[u.code][0] for u in closer}
            if units:
                return tuple(dict.fromkeys(units)), reading, len(names) > 1
        return (), None, False

    def _narrow(self, units: Units, reading: Reading | None) -> tuple[Units, int]:
        """Keep the units of the type word given, then of the diacritics given, when that
        leaves any; flag a type word that differs from the one unit's type."""
        if reading is None:
            return units, 0
        if len(units) > 1 and reading.type is not None:
            same = tuple(u for u in units if self._type[u.code] == reading.type)
            if same:
                units = same
        if len(units) > 1 and reading.accented is not None:
            same = tuple(u for u in units if self._accented[u.code] == reading.accented)
            if same:
                units = same
        flags = ABBREVIATION if reading.rewritten else 0
        if reading.type is not None and len(units) == 1 \
                and self._type[units[0].code] != reading.type:
            flags |= TYPE_DIFFERS
        return units, flags

    def _province_candidates(self, parts: Sequence[Part]) -> list[tuple[int, str, int]]:
        """(part index, province code, flags) of every part naming a province, last first."""
        out: list[tuple[int, str, int]] = []
        last = len(parts) - 1
        for i in range(last, -1, -1):
            for reading in parts[i].province:
                hit = self._provinces.get(reading.key)
                if hit is not None:
                    flags = ABBREVIATION if reading.rewritten or hit[1] else 0
                    out.append((i, hit[0], flags | (REORDERED if i != last else 0)))
                    break
        return out

    def _provinces_near(self, parts: Sequence[Part]) -> list[tuple[int, str, int]]:
        """Provinces one letter from the last part (or the first, written province first);
        the diacritics given choose among several."""
        out: list[tuple[int, str, int]] = []
        last = len(parts) - 1
        for i in (last, 0) if last > 0 else (last,):
            if self._names_province(parts[i]):  # spelt right: not a misspelt other one
                continue
            for reading in parts[i].province:
                near = self._near_provinces.near(reading.key)
                codes = list(dict.fromkeys(self._provinces[k][0] for k in near))
                if len(codes) > 1 and reading.accented is not None:
                    accented = reading.accented
                    closer = [c for c in codes if one_edit(accented, self._accented[c] or "")]
                    codes = closer or codes
                out.extend((i, code, SPELLING | (REORDERED if i != last else 0))
                           for code in codes)
                if codes:
                    break
        return out

    # -- matching ----------------------------------------------------------------------

    def match_parts(self, parts: Sequence[Part]) -> Match | None:
        """The old units the parts name, province first, then district and commune."""
        if not parts:
            return None
        exact = self._province_candidates(parts)
        # The last part naming a province is taken unless another gives a surer answer
        # (a commune named like a province, in an address written province first); a
        # province one letter off when none named exactly fits well; the whole country
        # only when no part names a province exactly.
        best: Match | None = None
        for candidates in (exact, None):
            for index, province, flags in (
                    candidates if candidates is not None else self._provinces_near(parts)):
                rest = [p for i, p in enumerate(parts) if i != index]
                found = self._in_scope(rest, province, flags)
                if found is not None:
                    if not found.flags & (NO_DISTRICT | UNEXPLAINED | DISTRICT_DIFFERS):
                        return found
                    if best is None or _better(found, best):
                        best = found
        if best is not None:
            return best
        return None if exact else self._in_scope(list(parts), None, NO_PROVINCE)

    def joined_at_dashes(self, parts: list[Part]) -> list[Part]:
        """Parts split at a dash that belongs to a name ("Phương Liên - Trung Tự", "Bà Rịa -
        Vũng Tàu") made whole again, when the address used dashes as separators."""
        i = len(parts) - 2
        while i >= 0:
            first, second = parts[i], parts[i + 1]
            if any(f"{r.key} {second.folded}" in self._dashed for r in first.readings):
                parts[i:i + 2] = [self.part(f"{first.text} - {second.text}")]
            i -= 1
        return parts

    def _names_province(self, part: Part) -> bool:
        return any(r.key in self._provinces for r in part.province)

    def _in_scope(self, rest: Sequence[Part], province: str | None,
                  flags: int) -> Match | None:
        """The commune among ``rest`` in the province (or the country, when ``None``)."""
        m = len(rest)
        if m == 0:
            return None
        districts = self._districts.get(province, {})
        communes = self._communes.get(province, {})
        named: list[tuple[int, int, Units, int]] = []  # (district part, commune part, ...)
        for d, c in _pairs(m):
            found, reading = self._find(districts, rest[d].district)
            if not found:
                continue
            found, d_flags = self._narrow(found, reading)
            named.append((d, c, found, d_flags))
            units, c_reading = self._in_districts(found, rest[c])
            if units:
                units, c_flags = self._narrow(units, c_reading)
                return Match(units, flags | d_flags | c_flags | _order(m, d, c),
                             skipped=min(c, d) > 0)
        # The district is right, the commune's name one letter off.
        for d, c, found, d_flags in named:
            tables = [self._in_district.get(u.code, {}) for u in found]
            units, c_reading, several = self._find_near(
                self._near_communes, tables, rest[c].commune)
            if units:
                units, c_flags = self._narrow(units, c_reading)
                return Match(units, flags | d_flags | c_flags | SPELLING | _order(m, d, c),
                             SIMILAR_NAMES if several and len(units) > 1 else "",
                             min(c, d) > 0)
        # No district names the commune: the commune in the whole scope. Every part is
        # tried, since a district's name is often a commune's too ("Điện An" is a commune
        # and "Điện Àn" a misspelt "Điện Bàn"); a part before the one taken that names a
        # commune as well is not a street, and makes the answer less sure.
        hits = [(c, *self._find(communes, rest[c].commune)) for c in range(m)]
        best: Match | None = None
        for c, units, c_reading in reversed(hits):
            if units:
                units, c_flags = self._narrow(units, c_reading)
                if any(earlier for _, earlier, _ in hits[:c]):
                    c_flags |= UNEXPLAINED
                answer = self._without_district(rest, c, units, flags | c_flags, named, "")
                if best is None or _better(answer, best):
                    best = answer
        if best is not None:
            return best
        districts_named = {d for d, _, _, _ in named}
        for c in range(m - 1, -1, -1):
            if c in districts_named:  # a district's exact name is no misspelt commune
                continue
            units, c_reading, several = self._find_near(
                self._near_communes, [communes], rest[c].commune)
            if units:
                units, c_flags = self._narrow(units, c_reading)
                answer = self._without_district(
                    rest, c, units, flags | c_flags | SPELLING, named,
                    SIMILAR_NAMES if several else "")
                if best is None or _better(answer, best):
                    best = answer
        if best is not None:
            return best
        # A district that has no communes (the island districts) is itself the unit.
        for part in rest:
            found, reading = self._find(districts, part.district)
            if len(found) == 1 and found[0].code not in self._in_district:
                found, d_flags = self._narrow(found, reading)
                return Match(found, flags | d_flags | (UNEXPLAINED if m > 1 else 0))
        return None

    def _in_districts(self, districts: Units, part: Part) -> tuple[Units, Reading | None]:
        if len(districts) == 1:
            return self._find(self._in_district.get(districts[0].code, {}), part.commune)
        units: list[Unit] = []
        used: Reading | None = None
        for district in districts:
            found, reading = self._find(self._in_district.get(district.code, {}),
                                        part.commune)
            if found:
                units.extend(found)
                used = used or reading
        return tuple(units), used

    def _without_district(self, rest: Sequence[Part], c: int, units: Units, flags: int,
                          named: list[tuple[int, int, Units, int]], why: str) -> Match:
        """The commune was found in the province without a district: a part after it may be
        its district misspelt, another district, or nothing known."""
        later = [rest[j] for j in range(c + 1, len(rest))]
        skipped = c > 0
        if not later:
            return Match(units, flags | NO_DISTRICT, why if len(units) > 1 else "", skipped)
        close = tuple(u for u in units if any(self._close_district(u, p) for p in later))
        if close:
            return Match(close, flags | SPELLING, why if len(close) > 1 else "", skipped)
        if any(d != c for d, _, _, _ in named):
            return Match(units, flags | DISTRICT_DIFFERS, why if len(units) > 1 else "",
                         skipped)
        return Match(units, flags | NO_DISTRICT | UNEXPLAINED, why if len(units) > 1 else "",
                     skipped)

    def _close_district(self, unit: Unit, part: Part) -> bool:
        if unit.district_code is None:
            return False
        keys = self._keys.get(unit.district_code, ())
        return any(len(r.key) >= MIN_FUZZY and one_edit(r.key, k)
                   for r in part.district for k in keys)

    def segmented(self, parts: Sequence[Part]) -> Match | None:
        """The address read as words, its parts told apart by the names themselves:
        "phuong quan thanh quan ba dinh ha noi". The province is the longest run of
        words at the end naming one, then the district, then the commune."""
        words = [w for p in parts for w in p.words]
        n = len(words)
        for size in range(min(5, n - 1), 0, -1):
            tail = self._words(words[n - size:])
            candidates = self._province_candidates([tail])
            if candidates and not candidates[0][2] & SPELLING:
                found = self._segment(words[:n - size], candidates[0][1], candidates[0][2])
                if found is not None:
                    return found
        return self._segment(words, None, NO_PROVINCE)

    def _segment(self, head: list[str], province: str | None, flags: int) -> Match | None:
        districts = self._districts.get(province, {})
        communes = self._communes.get(province, {})
        flags |= NO_SEPARATORS
        for size in range(min(6, len(head) - 1), 0, -1):
            if _cuts_off_type(head, len(head) - size):
                continue
            district = self._words(head[len(head) - size:])
            found, _ = self._find(districts, district.district)
            if found:
                body = head[:len(head) - size]
                for csize in range(min(8, len(body)), 0, -1):
                    if _cuts_off_type(body, len(body) - csize):
                        continue
                    commune = self._words(body[len(body) - csize:])
                    units, _ = self._in_districts(found, commune)
                    if units:
                        return self._in_scope([commune, district], province, flags)
                match = self._in_scope([self._words(body), district], province,
                                       flags) if body else None
                if match is not None:
                    return match
        for csize in range(min(8, len(head)), 0, -1):
            if _cuts_off_type(head, len(head) - csize):
                continue
            commune = self._words(head[len(head) - csize:])
            units, _ = self._find(communes, commune.commune)
            if units:
                return self._in_scope([commune], province, flags)
        return None

    # -- answers -----------------------------------------------------------------------

    def convert(self, parts: Sequence[Part]) -> Conversion:
        """The conversion of an address already split into parts."""
        match = self.match_parts(parts)
        # Read again as words when parts were left unexplained or passed over and a guess
        # was needed: a name may have been split at its own dash ("Văn Miếu - Quốc Tử
        # Giám"), or the separators are missing.
        if match is None or match.flags & (UNEXPLAINED | DISTRICT_DIFFERS) or (
                match.skipped and match.flags & SPELLING):
            words = sum(len(p.words) for p in parts)
            if words > 1:
                other = self.segmented(parts)
                if other is not None and (match is None or _better(other, match)):
                    match = other
        if match is None:
            return Conversion(NOT_FOUND, 0.0, None, (), "unknown_name")
        return self.answer(match)

    def convert_address(self, text: str) -> Conversion:
        """A free-text address ("P. Quán Thánh, Q. Ba Đình, HN") to its conversion."""
        parts = [part for part in map(self.part, split_address(text)) if part.folded]
        while parts and parts[-1].folded in IGNORED_PARTS:
            parts.pop()
        if len(parts) > 1 and "," not in text and ";" not in text and self._dashed:
            parts = self.joined_at_dashes(parts)
        return self.convert(parts)

    def convert_names(self, commune: str | None, district: str | None,
                      province: str | None) -> Conversion:
        """Names given in separate fields (any may be missing) to their conversion."""
        parts = [part for part in map(self.part, (t.strip() for t in (
            commune, district, province) if t and t.strip())) if part.folded]
        return self.convert(parts)

    def answer(self, match: Match) -> Conversion:
        """The conversion of a match: ambiguous when several units fit; otherwise the
        lineage answer of the one old unit, with the match's status and confidence."""
        units = match.units
        value = confidence(match.flags)
        if len(units) > 1:
            ordered = tuple(sorted(units, key=lambda u: u.code))
            return Conversion(AMBIGUOUS, round(value / len(units), 2), None, (),
                              match.reason or SAME_NAME, ordered)
        key = (units[0].code, match.flags)
        found = self._results.get(key)
        if found is None:
            found = self._results[key] = self._answer(units[0], match.flags, value)
        return found

    def _answer(self, unit: Unit, flags: int, value: float) -> Conversion:
        lineage = self._gazetteer.conversion_of(unit.code)
        if lineage.status == NOT_FOUND:
            return Conversion(NOT_FOUND, 0.0, unit, (), lineage.reason)
        if lineage.status == AMBIGUOUS:
            return Conversion(AMBIGUOUS, min(value, lineage.confidence), unit, lineage.new,
                              lineage.reason)
        return Conversion(EXACT if flags == 0 else MATCHED, value, unit, lineage.new,
                          reason(flags))


def _cuts_off_type(words: Sequence[str], at: int) -> bool:
    """Whether a name cut at ``at`` would leave its type word behind: the word before is a
    type word spelt with its diacritics or abbreviated ("Huyện | Đăk Đoa", "Q | 5"), or
    the name would be a bare number ("Quận | 5")."""
    if not 0 < at < len(words):
        return False
    before = words[at - 1]
    return (words[at].isdigit() or before in _SPELT_TYPES or before in ABBREVIATIONS
            or (at > 1 and f"{words[at - 2]} {before}" in _SPELT_TYPES))


_SPELT_TYPES = frozenset(spelt for _, spelt in TYPE_WORDS.values())


def _order(m: int, d: int, c: int) -> int:
    """The flags of taking part ``d`` as the district and ``c`` as the commune."""
    flags = REORDERED if c > d else 0
    if max(c, d) < m - 1 or (c < d - 1):
        flags |= UNEXPLAINED
    return flags


def _better(a: Match, b: Match) -> bool:
    """Whether ``a`` needed fewer guesses than ``b``. Several units that fit with fewer
    guesses beat one that needed more: the surer reading of the address decides, and its
    ambiguity is reported rather than traded for a unique but worse reading."""
    return confidence(a.flags) > confidence(b.flags)
