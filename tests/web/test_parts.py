"""The UI's parts without a server: the catalogue, the lineage layout, form-field mapping."""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pytest

from registry.errors import ValidationError
from registry.services.lineage_walk import walk
from registry.services.queries import LinkView
from registry.web import errors, i18n, lineage_svg, op_forms, rendering
from registry.web.reads import Label

WEB = Path(rendering.__file__).resolve().parent


def _used_keys() -> set[str]:
    keys: set[str] = set()
    for path in [*WEB.glob("templates/*"), *WEB.glob("*.py")]:
        keys |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+|[a-z_]+)["']""",
                               path.read_text("utf-8")))
    return keys


def test_every_message_the_ui_uses_exists_in_both_languages() -> None:
    used = _used_keys()
    assert len(used) > 100
    # A key ending in "." is a prefix completed at run time ("status." ~ value).
    missing = sorted(k for k in used if k not in i18n.MESSAGES and not (
        k.endswith(".") and any(m.startswith(k) for m in i18n.MESSAGES)))
    assert missing == []
    for key, (vi, en) in i18n.MESSAGES.items():
        assert vi and en, key
        fields = [{f for _, f, _, _ in string.Formatter().parse(text) if f}
                  for text in (vi, en)]
        assert fields[0] == fields[1], key


def test_language_choice_and_local_formats() -> None:
    assert i18n.pick_lang(None, None) == "vi"
    assert i18n.pick_lang("en", "vi") == "en"
    assert i18n.pick_lang("fr", "en") == "en"
    assert i18n.translate("en", "cs.number", id=3) == "Change set 3"
    assert i18n.translate("vi", "no.such.key") == "no.such.key"
    assert rendering.format_date(date(2025, 7, 1), "vi") == "01/07/2025"
    assert rendering.format_date(date(2025, 7, 1), "en") == "2025-07-01"
    assert rendering.format_number(10035, "vi") == "10.035"
    assert rendering.format_number(10035, "en") == "10,035"


def _link(src: str, dst: str, depth: int, kind: str = "whole",
          default: bool = False) -> LinkView:
    return LinkView(src, dst, kind, default, None, date(2025, 7, 1), 1, 2, depth)


def test_lineage_puts_predecessors_left_and_successors_right() -> None:
    preds = [_link("a", "x", 1, default=True), _link("b", "x", 1, "part"),
             _link("old", "a", 2)]
    succs = [_link("x", "y", 1, "part", default=True), _link("x", "z", 1, "part")]
    labels = {c: Label(c, f"Name {c}", "retired", date(2025, 1, 1))
              for c in ("a", "b", "old", "y", "z")}
    picture = lineage_svg.layout("x", "Entry", "active", preds, succs, labels)
    column = {n.code: n.x for n in picture.nodes}
    assert column["old"] < column["a"] == column["b"] < column["x"] < column["y"] == column["z"]
    assert {n.code: n.role for n in picture.nodes}["x"] == "self"
    assert len(picture.edges) == 5
    assert [e.is_default for e in picture.edges if e.from_code == "x"] == [True, False]
    assert picture.width == 2 * lineage_svg.PAD + 4 * lineage_svg.NODE_W + 3 * lineage_svg.GAP_X
    assert not picture.empty


def test_lineage_caps_a_column_and_counts_the_rest() -> None:
    preds = [_link(f"{i:05d}", "x", 1) for i in range(lineage_svg.MAX_PER_COLUMN + 3)]
    picture = lineage_svg.layout("x", "Entry", "active", preds, [], {})
    more = [n for n in picture.nodes if n.role == "more"]
    assert len(more) == 1 and more[0].more == 3
    assert len(picture.edges) == lineage_svg.MAX_PER_COLUMN
    alone = lineage_svg.layout("x", "Entry", "active", [], [], {})
    assert alone.empty and len(alone.nodes) == 1


def _dated(src: str, dst: str, day: str) -> LinkView:
    return LinkView(src, dst, "part", False, None, date.fromisoformat(day), 1, 2, 1)


# "r" is a reused code: on 2025-07-01 the old "r" gave its area to "y" and, in the same
# change set, "x" went into the new "r"; in 2026 the new "r" gave a part to "z". Before, "p"
# went into "x" (2024), and "p" had been formed from "q" (2023); the "s" that went into a
# later "p" (2025) is another generation of that code.
DATED = [_dated("x", "r", "2025-07-01"), _dated("r", "y", "2025-07-01"),
         _dated("r", "z", "2026-01-01"), _dated("p", "x", "2024-01-01"),
         _dated("q", "p", "2023-01-01"), _dated("s", "p", "2025-01-01"),
         _dated("r", "r", "2025-07-01")]


def _direct(direction: str, codes: Sequence[str]) -> list[LinkView]:
    side = "from_code" if direction == "successors" else "to_code"
    return sorted((lk for lk in DATED if getattr(lk, side) in codes),
                  key=lambda lk: (lk.effective_date, lk.from_code, lk.to_code))


def test_lineage_follows_links_forward_in_time_not_codes() -> None:
    def pairs(code: str, direction: str) -> list[tuple[str, str, int]]:
        found = walk(code, direction, lambda codes: _direct(direction, codes))
        return [(lk.from_code, lk.to_code, lk.depth) for lk in found]

    # The new "r" did not give anything to "y": only its later link to "z" continues.
    assert pairs("x", "successors") == [("x", "r", 1), ("r", "z", 2)]
    assert pairs("x", "predecessors") == [("p", "x", 1), ("q", "p", 2)]
    # The page of the reused code itself shows every link of both its generations.
    assert pairs("r", "successors") == [("r", "r", 1), ("r", "y", 1), ("r", "z", 1)]
    assert pairs("r", "predecessors") == [("r", "r", 1), ("x", "r", 1), ("p", "x", 2),
                                         ("q", "p", 3)]
    # A code reached again by an earlier link is walked again with the wider bound.
    assert pairs("z", "predecessors") == [("r", "z", 1), ("r", "r", 2), ("x", "r", 2),
                                         ("p", "x", 3), ("q", "p", 4)]


@pytest.mark.parametrize(("relative", "kind", "expected"), [
    ("code", "create", "code"),
    ("", "retire", op_forms.GENERAL),
    ("sources[1].code", "merge", "source_code_1"),
    ("sources", "merge", "source_code_0"),
    ("target.name", "merge", "target_name"),
    ("target", "merge", "target_code"),
    ("targets[2].share", "split", "target_share_2"),
    ("targets[0].default", "split", "default_target"),
    ("targets", "split", "targets"),
    ("default", "split", "default_target"),
    ("attributes.x", "create", op_forms.GENERAL),
])
def test_errors_map_to_the_input_that_holds_the_value(relative: str, kind: str,
                                                      expected: str) -> None:
    assert op_forms.form_field(relative, kind) == expected


def test_only_problems_no_later_operation_can_fix_block_an_operation() -> None:
    errors = [ValidationError("operations[2].code", "code_pattern", "bad"),
              ValidationError("operations[2].parent", "parent_missing", "later"),
              ValidationError("operations[1].code", "exists", "other op")]
    found = op_forms.errors_for(errors, 2, "create")
    assert [(e.field, e.rule) for e in found] == [("code", "code_pattern"),
                                                  ("parent", "parent_missing")]
    assert [e.rule for e in op_forms.blocking(found)] == ["code_pattern"]


def test_the_session_key_is_shared_through_a_private_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from registry.web import security

    monkeypatch.delenv(security.SECRET_ENV, raising=False)
    path = tmp_path / "state" / "web-secret"
    monkeypatch.setenv(security.SECRET_FILE_ENV, str(path))
    first = security.session_secret()
    assert security.session_secret() == first and len(first) > 40
    assert path.stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv(security.SECRET_ENV, "configured")
    assert security.session_secret() == "configured"


def test_a_code_correction_is_described_with_both_codes() -> None:
    from registry.web.diff_view import describe

    op = {"op": "correct", "list": "admin-units", "code": "001", "new_code": "009"}
    assert describe(i18n.translator("vi"), op) == "Đính chính mã 001 thành 009"
    assert describe(i18n.translator("en"), op) == "Correct the code 001 to 009"
    plain = {"op": "correct", "list": "admin-units", "code": "001", "name": "Quận X"}
    assert describe(i18n.translator("en"), plain) == "Correct 001"


def test_a_domain_error_is_shown_by_its_field_and_rule_with_its_values_only() -> None:
    vi, en = i18n.translator("vi"), i18n.translator("en")
    hint = ValidationError("--map", "required",
                           "no column gives the 'code'; name one with --map code=COLUMN")
    for t in (vi, en):
        shown = errors.error_text(t, hint)
        assert "--map" not in shown and "COLUMN" not in shown and shown.endswith(": code")
    day = ValidationError("operations[0].effective_date", "date",
                          "'2025-13-01' is not a date (YYYY-MM-DD)")
    assert errors.rule_text(vi, day) == "Ngày có hiệu lực không hợp lệ (YYYY-MM-DD): 2025-13-01"
    assert errors.error_text(en, day) == ("operations[0].effective_date: The effective date is "
                                          "not a date (YYYY-MM-DD): 2025-13-01")
    assert errors.rule_text(vi, ValidationError("x", "no_such_rule", "it broke")) == (
        "Dữ liệu không hợp lệ")
