"""Address conversion throughput. Run: ``python bench/convert_address_bench.py``.

Builds a scratch SQLite registry with the bundled data (or reads ``--db URL``), draws the
labelled set of ``address_set.py`` (24,000 addresses, six kinds of noise, a fixed seed),
and converts every address, on one core, in the same run:

* ``registry``: ``Gazetteer.convert_address`` with the name index built beforehand (its
  build time is printed apart) and the part cache empty, so that every address is read
  afresh the first time its parts are seen, as in a real table;
* ``vietnamadminunits``: ``convert_address`` on the same addresses, after one call that
  loads its data (if it is installed; otherwise only the registry's figure is printed).

Targets from the issue: at least 20,000 addresses/s, and at least 10× the throughput of
``vietnamadminunits.convert_address`` on the same addresses.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from address_set import SEED, SIZE, labelled_set, scratch_gazetteer, their_converter

TARGET_RATE = 20_000
TARGET_RATIO = 10.0


def rate(convert: Callable[[str], Any], texts: list[str]) -> tuple[float, float]:
    """(addresses per second, seconds) of converting ``texts`` one after another."""
    gc.collect()
    start = time.perf_counter()
    for text in texts:
        convert(text)
    seconds = time.perf_counter() - start
    return len(texts) / seconds, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="a registry database URL (default: a scratch SQLite "
                                     "file loaded with the bundled data)")
    parser.add_argument("--size", type=int, default=SIZE)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()

    gazetteer = scratch_gazetteer(args.db)
    texts = [row.text for row in labelled_set(gazetteer, args.size, args.seed)[0]]
    start = time.perf_counter()
    matcher = gazetteer.matcher
    built = time.perf_counter() - start
    print(f"{len(texts)} addresses (seed {args.seed}); name index built in {built:.2f} s")

    ours, seconds = rate(matcher.convert_address, texts)
    again, _ = rate(matcher.convert_address, texts)
    print(f"registry           {ours:>10,.0f} addresses/s ({seconds:.2f} s; "
          f"{again:,.0f}/s again with every part cached)")

    convert = their_converter()
    if convert is None:
        print("vietnamadminunits is not installed (pip install vietnamadminunits, or the "
              "'bench' extra): only the registry's figure is printed")
        theirs = None
    else:
        convert(texts[0])  # its data load, outside the clock
        theirs, seconds = rate(convert, texts)
        print(f"vietnamadminunits  {theirs:>10,.0f} addresses/s ({seconds:.2f} s)")
        print(f"ratio              {ours / theirs:>10.1f}×")
    print(f"targets: ≥ {TARGET_RATE:,}/s: {'met' if ours >= TARGET_RATE else 'NOT met'}"
          + (f"; ≥ {TARGET_RATIO:.0f}× vietnamadminunits: "
             f"{'met' if ours / theirs >= TARGET_RATIO else 'NOT met'}" if theirs else ""))


if __name__ == "__main__":
    main()
