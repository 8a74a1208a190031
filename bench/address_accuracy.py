"""Accuracy of address conversion on a labelled set. Run: ``python bench/address_accuracy.py``.

Builds a scratch SQLite registry with the bundled data (or reads ``--db URL``), draws the
labelled set of ``address_set.py`` (24,000 addresses, six kinds of noise, a fixed seed),
converts every address with the registry's matcher (``Gazetteer.convert_address``) and,
when it is installed, with ``vietnamadminunits.convert_address``, and prints per noise
kind how each answer compares with the commune the address was made from:

* ``correct``: the old commune found is the right one, whatever the status (a divided
  commune is ``ambiguous`` with its right old unit and every new candidate);
* ``wrong``: another commune, split by the status reported (``exact``, ``matched``, or an
  ``ambiguous`` lineage) and counted again when its confidence is ≥ 0.9;
* ``ambig``: several communes offered (``same_name``), none chosen; ``has`` when the right
  one is among them;
* ``not found``.

``acc`` is the share of correct answers among the rows whose truth is unambiguous (the
commune's name is unique in the scope the address gives). Targets from the issue: ≥ 99%
overall, and no wrong answer reported ``exact`` or ``matched`` with confidence ≥ 0.9.

``vietnamadminunits`` reports no status or confidence: each ward it parses is an answer;
its parse of the old unit (``OldAdminUnit.ward_code``) is compared with the truth.
"""

from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from address_set import (
    NOISE_KINDS,
    Labelled,
    bench_arguments,
    labelled_set,
    scratch_gazetteer,
    their_converter,
)

HIGH = 0.9
COLUMNS = ("rows", "unamb", "correct", "acc", "wrong", "w.exact", "w.matched", "w.ambig",
           "w.≥0.9", "ambig", "has", "not found")


def ours(gazetteer: Any, row: Labelled) -> tuple[str, ...]:
    """The outcome of the registry's answer: ("correct"|"wrong"|"ambig"|"not found", …)."""
    answer = gazetteer.convert_address(row.text)
    if answer.old is not None and answer.status != "not_found":
        if answer.old.code == row.code:
            return ("correct",)
        marks = ["wrong", f"w.{answer.status if answer.status != 'ambiguous' else 'ambig'}"]
        if answer.status in ("exact", "matched") and answer.confidence >= HIGH:
            marks.append("w.≥0.9")
        return tuple(marks)
    if answer.alternatives:
        has = any(u.code == row.code for u in answer.alternatives)
        return ("ambig", "has") if has else ("ambig",)
    return ("not found",)


def theirs(convert: Callable[[str], Any], row: Labelled) -> tuple[str, ...]:
    """The outcome of vietnamadminunits' parse of the old unit."""
    try:
        old = convert(row.text).OldAdminUnit
    except Exception:  # it raises on some inputs it cannot read; that is not found
        return ("not found",)
    if not old.ward_code:
        return ("not found",)
    if old.ward_code == row.code:
        return ("correct",)
    return ("wrong", "w.exact", "w.≥0.9")  # an answer with no status claims certainty


def tally(rows: Iterable[Labelled],
          outcome: Callable[[Labelled], tuple[str, ...]]) -> dict[str, Counter[str]]:
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        marks = outcome(row)
        for key in (row.noise, "all"):
            line = table[key]
            line["rows"] += 1
            line["unamb"] += row.unambiguous
            for mark in marks:
                line[mark] += 1
            if row.unambiguous and marks[0] == "correct":
                line["unamb correct"] += 1
    return table


def show(title: str, table: dict[str, Counter[str]], seconds: float) -> None:
    print(f"\n{title} ({seconds:.1f} s)")
    print(f"{'noise':<14}" + "".join(f"{c:>10}" for c in COLUMNS))
    for kind in (*NOISE_KINDS, "all"):
        line = table[kind]
        acc = 100.0 * line["unamb correct"] / line["unamb"] if line["unamb"] else 0.0
        cells = [str(line[c]) if c != "acc" else f"{acc:.2f}%" for c in COLUMNS]
        print(f"{kind:<14}" + "".join(f"{c:>10}" for c in cells))


def main() -> None:
    parser = bench_arguments(__doc__.split("\n")[0])
    parser.add_argument("--show-wrong", type=int, default=0,
                        help="print up to N rows the registry got wrong or did not find")
    args = parser.parse_args()

    gazetteer = scratch_gazetteer(args.db)
    rows, left_out = labelled_set(gazetteer, args.size, args.seed)
    print(f"{len(rows)} addresses (seed {args.seed}) from the office's list; "
          f"{left_out} of its communes left out (renamed or gone by "
          f"{gazetteer.from_date.isoformat()}); {sum(r.unambiguous for r in rows)} with an "
          "unambiguous truth")
    assert gazetteer.matcher is not None  # the index is built once, outside the clock
    start = time.perf_counter()
    table = tally(rows, lambda row: ours(gazetteer, row))
    show("registry: Gazetteer.convert_address", table, time.perf_counter() - start)
    acc = 100.0 * table["all"]["unamb correct"] / max(1, table["all"]["unamb"])
    print(f"targets: correct ≥ 99% of unambiguous rows: {acc:.2f}% "
          f"({'met' if acc >= 99 else 'NOT met'}); wrong exact/matched with confidence "
          f"≥ 0.9: {table['all']['w.≥0.9']} ({'met' if not table['all']['w.≥0.9'] else 'NOT met'})")
    if args.show_wrong:
        shown = 0
        for row in rows:
            marks = ours(gazetteer, row)
            if marks[0] in ("wrong", "not found") or (marks[0] == "ambig" and row.unambiguous):
                answer = gazetteer.convert_address(row.text)
                got = answer.old.code + " " + answer.old.name if answer.old else "-"
                print(f"  {row.noise:<13} {row.text!r} truth {row.code}: {answer.status} "
                      f"{answer.confidence} {got} {answer.reason}")
                shown += 1
                if shown >= args.show_wrong:
                    break

    convert = their_converter()
    if convert is None:
        print("\nvietnamadminunits is not installed (pip install vietnamadminunits, or the "
              "'bench' extra): its figures are left out")
        return
    convert("Phường Phúc Xá, Quận Ba Đình, Hà Nội")  # its data load, outside the clock
    start = time.perf_counter()
    table = tally(rows, lambda row: theirs(convert, row))
    show("vietnamadminunits.convert_address (its old-unit parse)", table,
         time.perf_counter() - start)


if __name__ == "__main__":
    main()
