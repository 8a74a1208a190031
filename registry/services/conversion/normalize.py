"""Reading the parts of a free-text Vietnamese address: folding, type words, abbreviations.

An address part such as ``"P.04"``, ``"phuong Quan Thanh"`` or ``"TP. HCM"`` is read into
one or more :class:`Reading` s: the folded name with its type word removed, the type word
it gave, and whether an abbreviation had to be expanded to get there. Everything the
reader knows about the way people write addresses is data at the top of this module
(type words, abbreviations, province aliases, parts to ignore), so that adding a spelling
is a one-line change. No I/O, no knowledge of which units exist: the matcher owns that.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

# Type words, folded, as the canonical form a reading reports, with the level(s) they name
# and how they are spelt with their diacritics (a word spelt otherwise is a name: "Quán
# Thánh" is not the district type "Quận").
TYPE_WORDS: dict[str, tuple[tuple[str, ...], str]] = {
    "phuong": (("commune",), "phường"),
    "xa": (("commune",), "xã"),
    "thi tran": (("commune",), "thị trấn"),
    "quan": (("district",), "quận"),
    "huyen": (("district",), "huyện"),
    "thi xa": (("district",), "thị xã"),
    "thanh pho": (("district", "province"), "thành phố"),
    "tinh": (("province",), "tỉnh"),
    "dac khu": (("district", "commune"), "đặc khu"),
}
# Abbreviations of type words (folded, the dot already gone): "P.", "Q.", "TX." ...
ABBREVIATIONS: dict[str, str] = {
    "p": "phuong", "f": "phuong", "ph": "phuong",
    "x": "xa",
    "tt": "thi tran", "ttr": "thi tran",
    "q": "quan",
    "h": "huyen",
    "tx": "thi xa",
    "tp": "thanh pho",
    "t": "tinh",
}
# A letter glued to a number: "P4", "Q10", "F.7" (already "f 7"), "phuong4".
_GLUED = re.compile(r"^(p|f|q|ph|phuong|quan)(\d+)$")
# Other names of provinces, keyed by the province's folded name without its type word.
# Names without their spaces ("hanoi") are added for every province by the matcher.
PROVINCE_ALIASES: dict[str, tuple[str, ...]] = {
    "ha noi": ("hn",),
    "ho chi minh": ("hcm", "tphcm", "hcmc", "tp hcm", "sai gon", "saigon", "sg", "tpsg"),
    "hue": ("thua thien hue", "thua thien", "tt hue", "tthue"),
    "hai phong": ("hp",),
    "da nang": ("tpdn",),
    "ba ria vung tau": ("brvt", "br vt", "ba ria vt"),
    "dak lak": ("dac lac", "dak lac", "dac lak"),
    "dak nong": ("dac nong",),
}
# Trailing parts that name no unit: the country, and how it is written.
IGNORED_PARTS = frozenset({"viet nam", "vietnam", "vn", "viet nam vn"})

# One translation to lower case without diacritics, tone marks or punctuation: precomposed
# letters map to their base letter, combining marks (NFD input) and apostrophes vanish,
# đ becomes d, punctuation becomes a space. Word boundaries therefore survive the fold.
_PUNCTUATION = ".,;:-–—/\\()[]{}\"“”_+&#|*!?<>=~"
_APOSTROPHES = "'’‘`´"


def _fold_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for cp in range(0xC0, 0x2000):
        ch = chr(cp)
        base = "".join(c for c in unicodedata.normalize("NFD", ch)
                       if not unicodedata.combining(c))
        if base != ch and len(base) == 1 and base.isascii():
            table[cp] = base.lower()
    for cp in range(0x300, 0x370):
        table[cp] = None
    table[ord("đ")] = table[ord("Đ")] = "d"
    for ch in _PUNCTUATION:
        table[ord(ch)] = " "
    for ch in _APOSTROPHES:
        table[ord(ch)] = None
    return table


_FOLD = _fold_table()
# The same clean-up keeping diacritics (for telling "Sa Pa" from "Sa Pả").
_CLEAN: dict[int, str | None] = {ord(ch): " " for ch in _PUNCTUATION}
_CLEAN.update({ord(ch): None for ch in _APOSTROPHES})


def fold(text: str) -> str:
    """Lower case, no diacritics, tone marks or punctuation, single spaces:
    ``"P.Quán  Thánh"`` → ``"p quan thanh"``; NFC and NFD input fold alike."""
    return " ".join(text.translate(_FOLD).lower().split())


def _accented_words(text: str) -> list[str]:
    """Lower-case NFC words with diacritics kept, split as :func:`fold` splits them."""
    return unicodedata.normalize("NFC", text).lower().translate(_CLEAN).split()


def _unglue(words: list[str]) -> tuple[list[str], bool]:
    """``"p4"`` → ``"p", "4"``; ``"04"`` → ``"4"``. Reports whether anything changed."""
    if not any(word[-1].isdigit() for word in words):
        return words, False
    out: list[str] = []
    changed = False
    for word in words:
        glued = _GLUED.match(word)
        if glued:
            out.append(glued.group(1))
            word = glued.group(2)
            changed = True
        if word.isdigit() and word[0] == "0" and len(word) > 1:
            word = str(int(word))
            changed = True
        out.append(word)
    return out, changed


class Reading(NamedTuple):
    """One way to read a part: a folded name, the type word given (canonical, folded),
    and whether an abbreviation was expanded (``"P."``, ``"Q1"``, ``"HN"``, ``"04"``)."""

    key: str
    type: str | None = None
    rewritten: bool = False
    accented: str | None = None  # the name with its diacritics, if the input had any


class Part(NamedTuple):
    """A part of an address (between separators), with its readings, likeliest first."""

    text: str
    folded: str
    readings: tuple[Reading, ...]
    words: tuple[str, ...]  # the accented words, for splitting text without separators
    # The readings that may name a unit of each level (a "Quận" names no commune).
    province: tuple[Reading, ...] = ()
    district: tuple[Reading, ...] = ()
    commune: tuple[Reading, ...] = ()


def _type_at(folded: list[str], accented: list[str]) -> tuple[str, int, bool, bool] | None:
    """The type word the part starts with: (canonical type, words used, abbreviation,
    certain). ``certain`` is true when diacritics confirm it ("Quận"); a word spelt
    with other diacritics ("Quán") is a name, not a type."""
    if len(folded) < 2:
        return None
    two = f"{folded[0]} {folded[1]}"
    if len(folded) > 2 and two in TYPE_WORDS:
        spelt = TYPE_WORDS[two][1]
        given = f"{accented[0]} {accented[1]}"
        if given == spelt:
            return two, 2, False, True
        if given.isascii():
            return two, 2, False, False
    word = folded[0]
    if word in TYPE_WORDS:
        spelt = TYPE_WORDS[word][1]
        if accented[0] == spelt:
            return word, 1, False, True
        if accented[0].isascii():
            return word, 1, False, False
        return None
    if word in ABBREVIATIONS and accented[0].isascii():
        return ABBREVIATIONS[word], 1, True, False
    return None


def read_part(text: str) -> Part:
    """Read one part of an address (no separators inside)."""
    if text.isascii():
        return read_words(text.lower().translate(_CLEAN).split(), text)
    return read_words(_accented_words(text), text)


def read_words(accented: list[str], text: str | None = None) -> Part:
    """Read a part given as accented words (from :func:`read_part`, or a slice of a text
    without separators)."""
    accented, rewritten = _unglue(accented)
    joined = " ".join(accented)
    has_marks = not joined.isascii()
    folded_text = joined.translate(_FOLD) if has_marks else joined
    folded = folded_text.split() if has_marks else accented
    if len(folded) != len(accented):  # a word of stray combining marks only
        accented, joined, has_marks = folded, folded_text, False
    found = _type_at(folded, accented)
    whole = Reading(folded_text, None, rewritten, joined if has_marks else None)
    label = text if text is not None else joined
    if found is None:
        alone = (whole,)
        return Part(label, folded_text, alone, tuple(accented), alone, alone, alone)
    type_, used, abbreviated, certain = found
    rest_text = " ".join(accented[used:])
    typed = Reading(" ".join(folded[used:]), type_, rewritten or abbreviated,
                    rest_text if has_marks and not rest_text.isascii() else None)
    # The type word limits the levels its reading may name; the whole name, kept when the
    # type word is uncertain, may name any.
    untyped = () if certain else (whole,)
    levels = TYPE_WORDS[type_][0]
    province, district, commune = (
        (typed, *untyped) if level in levels else untyped
        for level in ("province", "district", "commune"))
    return Part(label, folded_text, (typed, *untyped), tuple(accented), province, district,
                commune)


def name_keys(name: str, type_: str) -> tuple[str, str, tuple[str, ...]]:
    """A unit's name as the index holds it: (canonical type, accented short name, keys).

    The type word is removed from the front of the name ("Phường Quán Thánh" → "quan
    thanh"; "Thành phố Hà Nội" of type "Thành phố Trung ương" → "ha noi"); an apostrophe
    gives two more spellings ("Ea H'leo" → "ea hleo", "ea h leo").
    """
    canonical = fold(type_)
    if canonical not in TYPE_WORDS and canonical.startswith("thanh pho"):
        canonical = "thanh pho"
    size = len(_accented_words(type_))
    spellings = [name]
    if any(a in name for a in _APOSTROPHES):
        spellings.append(re.sub(r"['’‘`´]", " ", name))
        spellings.append(re.sub(r"['’‘`´]\s*", "", name))
    shorts = []
    for spelling in spellings:
        words = _accented_words(spelling)
        for used in (size, 2, 1):
            if 0 < used < len(words) and fold(" ".join(words[:used])) in TYPE_WORDS:
                words = words[used:]
                break
        shorts.append(" ".join(_unglue(words)[0]))
    keys = tuple(dict.fromkeys(k for k in map(fold, shorts) if k))
    return canonical, shorts[0], keys


def split_address(text: str) -> list[str]:
    """The parts of an address: split on commas, semicolons and line breaks; on dashes
    only when there are none of those (a dash inside a name, as in "Văn Miếu - Quốc Tử
    Giám", survives when commas separate the parts)."""
    if ";" in text or "\n" in text or "|" in text:
        raw = _SEPARATORS.split(text)
    elif "," in text:
        raw = text.split(",")
    else:
        raw = _DASHES.split(text)
    return [part for part in map(str.strip, raw) if part]


_SEPARATORS = re.compile(r"[,;\n|]")
_DASHES = re.compile(r"\s[-–—]\s|[–—]|\s-|-\s")
