"""Loading bundled data through the service layer: lists, change sets, resuming, reuse."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from registry.db import session_factory, transaction
from registry.errors import Conflict, ValidationError
from registry.importers.bundled_load import load_bundled_data, read_bundle
from registry.models import ChangeSet, ChangeSetEvent, Release
from registry.services import bundled, queries
from tests.conftest import Database
from tests.factories import d

FIXTURE = Path(__file__).parent / "bundled_fixture"


def releases(database: Database) -> int:
    with transaction(session_factory(database.engine)) as session:
        return int(session.scalar(select(func.count(Release.id))) or 0)


def test_a_load_defines_the_lists_and_publishes_each_change_set(database: Database) -> None:
    bundle = read_bundle(FIXTURE)
    assert [item.path for item in bundle.change_sets] == \
        ["changesets/001-colours.json", "changesets/002-colours-rename.json"]
    before = releases(database)
    report = load_bundled_data(database.engine, bundle=bundle)
    assert report.lists_release == before + 1
    assert report.published == [("changesets/001-colours.json", before + 2),
                                ("changesets/002-colours-rename.json", before + 3)]
    assert (report.skipped, report.operations) == (0, 5)
    with transaction(session_factory(database.engine)) as session:
        assert queries.require_entry(session, "test-colours", "02", d("2025-07-01")).name \
            == "Xanh lam"
        assert queries.require_entry(session, "test-colours", "02", d("2025-06-30")).name \
            == "Xanh"
        rows = list(session.scalars(select(ChangeSet).order_by(ChangeSet.id)))
        assert [(c.status, c.author, c.legal_number) for c in rows] == [
            ("published", "system", "1/2025/TEST"), ("published", "system", "2/2025/TEST")]
        actions = list(session.scalars(select(ChangeSetEvent.action)
                                       .where(ChangeSetEvent.change_set_id == rows[0].id)))
        assert "publish_direct" in actions


def test_a_second_load_reuses_the_database(database: Database) -> None:
    load_bundled_data(database.engine, bundle=read_bundle(FIXTURE))
    count = releases(database)
    again = load_bundled_data(database.engine, bundle=read_bundle(FIXTURE))
    assert (again.lists_release, again.published, again.skipped) == (None, [], 2)
    assert releases(database) == count


def test_an_interrupted_load_resumes_after_what_it_published(database: Database) -> None:
    bundle = read_bundle(FIXTURE)
    sessions = session_factory(database.engine)
    with transaction(sessions) as session:
        bundled.define_bundled_lists(session, bundle)
        bundled.publish_bundled(session, bundle.change_sets[0])
    report = load_bundled_data(database.engine, bundle=bundle)
    assert [path for path, _ in report.published] == ["changesets/002-colours-rename.json"]
    assert report.skipped == 1 and report.lists_release is None


def test_a_changed_list_definition_is_defined_again(database: Database,
                                                    tmp_path: Path) -> None:
    load_bundled_data(database.engine, bundle=read_bundle(FIXTURE))
    copy = tmp_path / "data"
    shutil.copytree(FIXTURE, copy)
    path = copy / "lists" / "test-colours.json"
    definition = json.loads(path.read_text("utf-8"))
    definition["name_en"] = "Colours (test)"
    path.write_text(json.dumps(definition, ensure_ascii=False), "utf-8")
    report = load_bundled_data(database.engine, bundle=read_bundle(copy))
    assert report.lists_release is not None and report.published == []
    with transaction(session_factory(database.engine)) as session:
        assert bundled.lists_to_define(session, read_bundle(copy)) == []


def test_a_broken_bundle_names_the_file(tmp_path: Path) -> None:
    copy = tmp_path / "data"
    shutil.copytree(FIXTURE, copy)
    (copy / "changesets" / "002-colours-rename.json").write_text("{\"title\": ", "utf-8")
    with pytest.raises(ValidationError) as caught:
        read_bundle(copy)
    assert caught.value.field.startswith("changesets/002-colours-rename.json:1")
    (copy / "changesets" / "002-colours-rename.json").unlink()
    with pytest.raises(ValidationError, match="missing from the bundled data"):
        read_bundle(copy)


def test_the_packaged_bundle_reads_and_names_every_list() -> None:
    bundle = read_bundle()
    keys = {d["key"] for d in bundle.definitions}
    assert {"admin-units", "agencies", "procedures", "ethnic-groups", "nationalities",
            "genders", "religions"} <= keys
    # The reform is planned from the official conversion table when it is published.
    reform = [c for c in bundle.change_sets if c.planner is not None]
    assert len(reform) == 34 and {c.effective_date for c in reform} == {d("2025-07-01")}
    assert all(c.size > 0 and c.path.startswith("sources/nso-conversion") for c in reform)


def test_a_database_of_another_bundle_version_is_refused_in_one_line(
        database: Database, tmp_path: Path) -> None:
    load_bundled_data(database.engine, bundle=read_bundle(FIXTURE))
    # The next version of the bundle retitled its first change set.
    changed = tmp_path / "bundle"
    shutil.copytree(FIXTURE, changed)
    first = changed / "changesets" / "001-colours.json"
    first.write_text(first.read_text("utf-8").replace('"title": "', '"title": "v2: ', 1),
                     "utf-8")
    count = releases(database)
    with pytest.raises(Conflict, match=re.escape(
            "another version of the bundled data: changesets/001-colours.json is not "
            "published but changesets/002-colours-rename.json is")):
        load_bundled_data(database.engine, bundle=read_bundle(changed))
    assert releases(database) == count
