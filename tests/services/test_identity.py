"""The organisation's claims mapped onto the registry's roles, as configured (issue: sign-in
through the identity provider)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from registry.errors import PermissionDenied, ValidationError
from registry.services.actors import Actor
from registry.services.identity import ClaimMapping, actor_from_claims
from tests.factories import hanoi

PLAIN = ClaimMapping()
GROUPS = ClaimMapping(role_claim="groups", role_map={"dmdc-admins": "admin",
                                                     "dmdc-stewards": "steward"})


def test_claims_make_the_same_actor_a_token_would(session: Session) -> None:
    hanoi(session)
    cases = [
        (PLAIN, {"preferred_username": "hoa", "registry_role": "steward",
                 "registry_lists": ["admin-units"]},
         Actor("hoa", "steward", frozenset({"admin-units"}))),
        (PLAIN, {"sub": "abc", "registry_role": "reader"}, Actor("abc", "reader")),
        (PLAIN, {"preferred_username": "hn", "registry_role": "proposer",
                 "registry_scope": "01", "registry_lists": ["agencies"]},
         Actor("hn", "proposer", scope="admin-units:01")),
        # The widest role wins; an administrator edits every list.
        (GROUPS, {"preferred_username": "it", "groups": ["dmdc-stewards", "dmdc-admins"],
                  "registry_lists": "admin-units"}, Actor("it", "admin")),
        (GROUPS, {"preferred_username": "st", "groups": "other,dmdc-stewards"},
         Actor("st", "steward")),
    ]
    for mapping, claims, expected in cases:
        assert actor_from_claims(session, claims, mapping) == expected


@pytest.mark.parametrize(("claims", "words"), [
    ({"preferred_username": "x"}, "no registry role in the claim 'registry_role'"),
    ({"preferred_username": "x", "registry_role": "emperor"}, "no registry role"),
    ({"preferred_username": "x", "registry_role": "sync"}, "no registry role"),
    ({"registry_role": "reader"}, "named no user"),
    ({"preferred_username": "x", "registry_role": "proposer"}, "without a scope"),
])
def test_claims_without_a_usable_role_sign_nobody_in(session: Session, claims: dict[str, str],
                                                     words: str) -> None:
    with pytest.raises(PermissionDenied) as caught:
        actor_from_claims(session, claims, PLAIN)
    assert words in caught.value.message


def test_a_proposer_scope_must_exist(session: Session) -> None:
    hanoi(session)
    with pytest.raises(ValidationError) as caught:
        actor_from_claims(session, {"preferred_username": "x", "registry_role": "proposer",
                                    "registry_scope": "77"}, PLAIN)
    assert (caught.value.field, caught.value.rule) == ("scope", "not_found")


def test_the_role_map_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_OIDC_ROLE_MAP", "cn=qtht=admin")
    assert ClaimMapping.from_env().role_map == {"cn=qtht": "admin"}
    monkeypatch.setenv("REGISTRY_OIDC_ROLE_MAP", "qtht=emperor")
    with pytest.raises(ValidationError) as caught:
        ClaimMapping.from_env()
    assert caught.value.field == "REGISTRY_OIDC_ROLE_MAP"
    monkeypatch.setenv("REGISTRY_OIDC_ROLE_MAP", "qtht=admin, canbo=steward")
    monkeypatch.setenv("REGISTRY_OIDC_ROLE_CLAIM", "groups")
    found = ClaimMapping.from_env()
    assert (found.role_claim, dict(found.role_map)) == ("groups", {"qtht": "admin",
                                                                   "canbo": "steward"})
