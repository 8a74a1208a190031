"""Schemathesis over the sync feed's own OpenAPI document: no answer is a server error, and
every answer (status, content type, body) is one the document describes.

Seeded (Hypothesis ``derandomize``) and bounded (``EXAMPLES`` cases per operation), so a
run is repeatable and takes seconds; raise ``REGISTRY_FUZZ_EXAMPLES`` to search longer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import positive_data_acceptance
from schemathesis.generation import GenerationMode
from starlette.applications import Starlette

from registry.config import Settings
from registry.db import session_factory, transaction
from registry.services.actors import SYSTEM
from registry.services.feed import read_head
from registry.services.tokens import create_token
from registry.sync.app import create_sync_app
from tests.conftest import Database
from tests.factories import hanoi

EXAMPLES = int(os.environ.get("REGISTRY_FUZZ_EXAMPLES", "60"))


@pytest.fixture
def served(database: Database) -> Iterator[tuple[Starlette, str, dict[str, str]]]:
    """The sync app on a database with one release, its epoch, and tokens by role."""
    with transaction(session_factory(database.engine)) as session:
        hanoi(session)
        epoch = read_head(session).epoch
        secrets = {role: create_token(session, SYSTEM, f"fuzz-{role}", role).secret
                   for role in ("sync", "reader")}
    app = create_sync_app(Settings(database_url=database.url, anonymous_read=True))
    yield app, epoch, secrets
    app.state.engine.dispose()


def test_the_sync_api_answers_as_its_document_says(
        served: tuple[Starlette, str, dict[str, str]]) -> None:
    app, epoch, secrets = served
    schema = schemathesis.openapi.from_asgi("/sync/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    calls: dict[str, int] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            check = _checker(operation, mode, epoch, secrets, calls)
            check()
    assert all(count >= 5 for count in calls.values()), calls
    assert len(calls) == 2 * len(operations)
    print(f"{sum(calls.values())} cases over {len(operations)} operations")  # with -s


def _checker(operation: Any, mode: GenerationMode, epoch: str, secrets: dict[str, str],
             calls: dict[str, int]) -> Callable[[], None]:
    """A Hypothesis test of one operation (a function per operation: ``given`` binds it)."""
    label = f"{operation.method.upper()} {operation.path} ({mode.value})"

    @hypothesis.settings(max_examples=EXAMPLES, derandomize=True, deadline=None,
                         database=None, phases=[Phase.explicit, Phase.generate],
                         suppress_health_check=list(HealthCheck))
    @hypothesis.given(case=operation.as_strategy(mode))
    def check(case: schemathesis.Case) -> None:
        # Half the cases name the real epoch, so that they reach past the epoch check.
        if "epoch" in (case.path_parameters or {}) and \
                len(str(case.path_parameters["epoch"])) % 2 == 0:
            case.path_parameters["epoch"] = epoch
        # Long polls are tested on their own; here they would only make the run slow.
        if case.query and _is_wait(case.query.get("wait")):
            case.query["wait"] = 0
        role = "sync" if case.method == "POST" else "reader"
        headers = {"Authorization": f"Bearer {secrets[role]}"} \
            if len(str(case.query or case.body)) % 3 else {}
        # Every check but "positive data accepted": a well-formed request may rightly be
        # refused as documented (another epoch is 410; a token that is not one of ours, 400).
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
        calls[label] = calls.get(label, 0) + 1

    return check  # type: ignore[no-any-return]


def _is_wait(value: Any) -> bool:
    """Whether ``value`` is a wait the server would honour (others are refused at once)."""
    try:
        return 0 < float(value) <= 60
    except (TypeError, ValueError):
        return False
