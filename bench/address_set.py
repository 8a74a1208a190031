"""A labelled set of free-text addresses with realistic noise, for the accuracy and speed
benches of address conversion (``address_accuracy.py``, ``convert_address_bench.py``).

The communes come from the statistics office's pre-reform list
(``registry/data/sources/nso-communes-2025-01-04.csv``), restricted to the communes the
registry holds on 2025-06-30 under the same name (a commune renamed between the list's
date and then is another question: the name the registry holds on the source date is the
one it matches). Each address is written in one of three styles (types spelt out, bare
names, or types on the commune and district only), then given one kind of noise:

* ``none``: as written;
* ``no_diacritics``: every diacritic and tone mark dropped, đ → d;
* ``abbreviated``: type words abbreviated (``P.``, ``X.``, ``TT.``, ``Q.``, ``H.``, ``TX.``,
  ``TP.``, ``T.``), numbered wards and districts glued (``P4``, ``P.04``, ``Q5``), the
  common province names (``HN``, ``TP HCM``, ``Sài Gòn``, ``Thừa Thiên Huế``, ``BRVT``);
* ``misspelled``: one letter of one name (the commune's most often) added, dropped,
  changed or swapped with its neighbour. A misspelling that gives the name of another unit
  in the same scope, or changes a number, is drawn again: it names another place, and no
  reader could tell;
* ``reordered``: the three parts in another order (province first, most often);
* ``no_district``: the district left out.

A row's truth is *unambiguous* when the commune's name (folded, without its type word) is
unique in the scope the address gives: its district, or its province when the district is
left out. Every draw comes from one seeded generator: the same seed gives the same set.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry.text import fold  # noqa: E402

SOURCE = ROOT / "registry/data/sources/nso-communes-2025-01-04.csv"
FROM_DATE = date(2025, 6, 30)
TO_DATE = date(2025, 7, 1)
NOISE_KINDS = ("none", "no_diacritics", "abbreviated", "misspelled", "reordered",
               "no_district")
SIZE = 24_000
SEED = 20250701

TYPES = ("Thành phố", "Thị trấn", "Thị xã", "Phường", "Xã", "Quận", "Huyện", "Tỉnh")
ABBREVIATED = {
    "Phường": ("P.", "P. ", "p.", "P "), "Xã": ("X.", "X. ", "x."),
    "Thị trấn": ("TT.", "TT. ", "Tt."), "Quận": ("Q.", "Q. ", "q."),
    "Huyện": ("H.", "H. ", "h."), "Thị xã": ("TX.", "TX. ", "Tx."),
    "Thành phố": ("TP.", "TP. ", "Tp."), "Tỉnh": ("T.", "T. ", "Tỉnh "),
}
NUMBERED = {"Phường": ("P{n}", "P.{n}", "P.{n:02d}", "p{n}", "P. {n}"),
            "Quận": ("Q{n}", "Q.{n}", "Q.{n:02d}", "q{n}", "Q. {n}")}
PROVINCE_NAMES = {
    "Hà Nội": ("HN", "TP HN", "Hà Nội"),
    "Hồ Chí Minh": ("TP HCM", "TPHCM", "HCM", "Sài Gòn", "TP.HCM", "Tp. Hồ Chí Minh"),
    "Huế": ("Thừa Thiên Huế", "TT Huế", "Huế"),
    "Bà Rịa - Vũng Tàu": ("BRVT", "Bà Rịa Vũng Tàu"),
    "Hải Phòng": ("HP", "TP. Hải Phòng"),
}
LETTERS = "abcdeghiklmnopqrstuvxy"


@dataclass(frozen=True)
class Official:
    """A commune of the office's list: names with their types, and codes."""

    code: str
    commune: str
    commune_type: str
    district: str
    district_code: str
    province: str
    province_code: str


@dataclass(frozen=True)
class Labelled:
    """An address, the noise it was given, and the commune it names."""

    text: str
    noise: str
    code: str
    unambiguous: bool


def split_type(name: str) -> tuple[str, str]:
    """("Phường", "Quán Thánh") from "Phường Quán Thánh"; the type in the list's spelling."""
    name = " ".join(name.split())
    for type_ in TYPES:
        if name.lower().startswith(type_.lower() + " "):
            return type_, name[len(type_) + 1:]
    return "", name


def short_key(name: str) -> str:
    return fold(split_type(name)[1])


def official_rows(old: Mapping[str, Any]) -> tuple[list[Official], int]:
    """The office's communes that the registry holds on the source date under the same
    name, and how many were left out (renamed or gone since the list's date)."""
    rows: list[Official] = []
    left_out = 0
    with SOURCE.open(encoding="utf-8", newline="") as stream:
        for raw in csv.DictReader(stream):
            code = raw["Mã PX"].strip()
            if not code:
                continue
            held = old.get(code)
            if held is None or held.level != "commune" or fold(held.name) != fold(
                    raw["Phường Xã"]):
                left_out += 1
                continue
            type_, _ = split_type(raw["Phường Xã"])
            rows.append(Official(code, " ".join(raw["Phường Xã"].split()), type_,
                                 " ".join(raw["Quận Huyện"].split()), raw["Mã QH"].strip(),
                                 " ".join(raw["Tỉnh Thành Phố"].split()),
                                 raw["Mã TP"].strip()))
    return rows, left_out


def strip_marks(text: str) -> str:
    """Without diacritics or tone marks, case kept; đ → d."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return unicodedata.normalize("NFC", "".join(
        c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)))


class Generator:
    """Draws the labelled set from the office's rows with one seeded generator."""

    def __init__(self, rows: list[Official], seed: int = SEED) -> None:
        self.rows = rows
        self.random = random.Random(seed)
        self.in_district = Counter((r.district_code, short_key(r.commune)) for r in rows)
        self.in_province = Counter((r.province_code, short_key(r.commune)) for r in rows)
        self.commune_names = {(r.province_code, short_key(r.commune)) for r in rows}
        self.district_names = {(r.province_code, short_key(r.district)) for r in rows}
        self.province_names = {short_key(r.province) for r in rows}

    def generate(self, size: int = SIZE) -> list[Labelled]:
        out = []
        for i in range(size):
            noise = NOISE_KINDS[i % len(NOISE_KINDS)]
            out.append(self.address(self.random.choice(self.rows), noise))
        return out

    def address(self, row: Official, noise: str) -> Labelled:
        r = self.random
        style = r.choices(("typed", "bare", "mixed"), (4, 3, 3))[0]
        names = [self.name(row.commune, style != "bare", noise),
                 self.name(row.district, style != "bare", noise),
                 self.province(row.province, style == "typed", noise)]
        if noise == "misspelled":
            names = self.misspell(row, names)
        if noise == "reordered":
            orders = [(2, 1, 0), (1, 0, 2), (0, 2, 1), (2, 0, 1), (1, 2, 0)]
            order = orders[0] if r.random() < 0.5 else r.choice(orders[1:])
            names = [names[i] for i in order]
        if noise == "no_district":
            names = [names[0], names[2]]
        separator = r.choices((", ", ",", " - "), (7, 2, 1))[0]
        text = separator.join(names)
        if noise == "no_diacritics":
            text = strip_marks(text)
        key = short_key(row.commune)
        unique = (self.in_province[(row.province_code, key)] == 1 if noise == "no_district"
                  else self.in_district[(row.district_code, key)] == 1)
        return Labelled(text, noise, row.code, unique)

    def name(self, full: str, typed: bool, noise: str) -> str:
        type_, bare = split_type(full)
        if noise == "abbreviated" and type_:
            if bare.isdigit() and type_ in NUMBERED:
                return self.random.choice(NUMBERED[type_]).format(n=int(bare))
            return self.random.choice(ABBREVIATED[type_]) + bare
        if bare.isdigit():  # "Phường 4" is never written "4"
            return f"{type_} {bare}"
        return f"{type_} {bare}" if typed and type_ else bare

    def province(self, full: str, typed: bool, noise: str) -> str:
        type_, bare = split_type(full)
        if noise == "abbreviated":
            if bare in PROVINCE_NAMES and self.random.random() < 0.7:
                return self.random.choice(PROVINCE_NAMES[bare])
            return self.random.choice(ABBREVIATED[type_]) + bare
        return f"{type_} {bare}" if typed else bare

    def misspell(self, row: Official, names: list[str]) -> list[str]:
        """One letter of one name changed; never a number, never another unit's name."""
        r = self.random
        taken = (lambda k: (row.province_code, k) in self.commune_names,
                 lambda k: (row.province_code, k) in self.district_names,
                 lambda k: k in self.province_names)
        for _ in range(100):
            which = r.choices((0, 1, 2), (6, 3, 1))[0]
            prefix, bare = _split_written(names[which])
            if len(fold(bare).replace(" ", "")) < 4:
                continue
            wrong = _edit(bare, r)
            key = fold(wrong)
            if key == fold(bare) or not key or taken[which](key) or (
                    [c for c in wrong if c.isdigit()] != [c for c in bare if c.isdigit()]):
                continue
            names = list(names)
            names[which] = prefix + wrong
            return names
        return names


def _split_written(written: str) -> tuple[str, str]:
    type_, bare = split_type(written)
    return (written[:len(written) - len(bare)], bare) if type_ else ("", written)


def _edit(word: str, r: random.Random) -> str:
    letters = [i for i, c in enumerate(word) if c.isalpha()]
    i = r.choice(letters)
    kind = r.choice(("change", "drop", "add", "swap"))
    if kind == "change":
        return word[:i] + r.choice(LETTERS) + word[i + 1:]
    if kind == "drop":
        return word[:i] + word[i + 1:]
    if kind == "add":
        return word[:i] + r.choice(LETTERS) + word[i:]
    if i + 1 < len(word) and word[i + 1].isalpha():
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + r.choice(LETTERS) + word[i + 1:]


def scratch_gazetteer(db: str | None = None) -> Any:
    """The gazetteer of a registry loaded with the bundled data: ``db`` (a database URL),
    or a scratch SQLite file made for the run."""
    from registry.db import make_engine, session_factory, transaction
    from registry.importers.bundled_load import load_bundled_data
    from registry.migrate import upgrade
    from registry.services.conversion import load_gazetteer

    work = None
    if db is None:
        work = tempfile.TemporaryDirectory(prefix="address-bench-")
        db = f"sqlite:///{Path(work.name) / 'registry.db'}"
        engine = make_engine(db)
        upgrade(engine)
        load_bundled_data(engine)
    else:
        engine = make_engine(db)
    with transaction(session_factory(engine)) as session:
        gazetteer = load_gazetteer(session, FROM_DATE, TO_DATE)
    engine.dispose()
    if work is not None:
        work.cleanup()
    return gazetteer


def labelled_set(gazetteer: Any, size: int = SIZE,
                 seed: int = SEED) -> tuple[list[Labelled], int]:
    """The labelled addresses, and how many of the office's communes were left out."""
    rows, left_out = official_rows(gazetteer.old)
    return Generator(rows, seed).generate(size), left_out


def their_converter() -> Any:
    """``vietnamadminunits.convert_address``, or ``None`` when it is not installed.

    Its converter geocodes an address that has a street part over the network (ArcGIS) to
    choose among the parts of a divided ward; nothing here is fetched at run time, so the
    geocoder is replaced by one that finds nothing, and it falls back to its default ward.
    The old unit it parses, which the benches compare, does not depend on it.
    """
    try:
        import vietnamadminunits
        from vietnamadminunits.converter import converter_2025
    except ImportError:
        return None
    converter_2025.get_geo_location = lambda address: None  # type: ignore[attr-defined]
    return vietnamadminunits.convert_address


def bench_arguments(description: str) -> argparse.ArgumentParser:
    """The options both address benches take: the database, the set's size and seed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--db", help="a registry database URL (default: a scratch SQLite "
                                     "file loaded with the bundled data)")
    parser.add_argument("--size", type=int, default=SIZE)
    parser.add_argument("--seed", type=int, default=SEED)
    return parser
