"""Identity from outside: the organisation's claims mapped onto the registry's roles.

An OpenID Connect sign-in produces the same :class:`Actor` (name, role, lists, scope) a
token does, so nothing downstream knows which one it got (DESIGN §11). Which claims carry
the role, lists and scope, and how group names map to roles, is configuration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from registry.errors import PermissionDenied, ValidationError
from registry.services.actors import ROLES, Actor
from registry.services.proposer_scope import parse_token_scope

# When claims give several roles, the widest wins (a group of administrators and stewards
# is an administrator's).
PRECEDENCE = ("admin", "approver", "steward", "proposer", "reader")


@dataclass(frozen=True)
class ClaimMapping:
    """Which claims say who the user is and what the registry lets them do."""

    name_claim: str = "preferred_username"
    role_claim: str = "registry_role"
    lists_claim: str = "registry_lists"
    scope_claim: str = "registry_scope"
    # Claim value (e.g. a group) → role, beside role names themselves.
    role_map: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> ClaimMapping:
        """``REGISTRY_OIDC_NAME_CLAIM``, ``…_ROLE_CLAIM``, ``…_LISTS_CLAIM``,
        ``…_SCOPE_CLAIM`` and ``REGISTRY_OIDC_ROLE_MAP`` (``group=role,group=role``)."""
        base = cls()
        env = os.environ.get
        # The last "=" splits: a value may hold one itself (cn=qtht=admin).
        pairs = [p.rsplit("=", 1) for p in env("REGISTRY_OIDC_ROLE_MAP", "").split(",")
                 if p.strip()]
        mapping: dict[str, str] = {}
        for pair in pairs:
            if len(pair) != 2 or pair[1].strip() not in ROLES:
                raise ValidationError("REGISTRY_OIDC_ROLE_MAP", "format",
                                      f"'{'='.join(pair)}' is not CLAIM_VALUE=ROLE with a role "
                                      f"of: {', '.join(ROLES)}")
            mapping[pair[0].strip()] = pair[1].strip()
        return cls(name_claim=env("REGISTRY_OIDC_NAME_CLAIM", base.name_claim),
                   role_claim=env("REGISTRY_OIDC_ROLE_CLAIM", base.role_claim),
                   lists_claim=env("REGISTRY_OIDC_LISTS_CLAIM", base.lists_claim),
                   scope_claim=env("REGISTRY_OIDC_SCOPE_CLAIM", base.scope_claim),
                   role_map=mapping)


def _values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return []


def actor_from_claims(session: Session, claims: Mapping[str, Any],
                      mapping: ClaimMapping) -> Actor:
    """The actor the claims make, or :class:`PermissionDenied` naming what is missing."""
    name = str(claims.get(mapping.name_claim) or claims.get("sub") or "").strip()
    if not name:
        raise PermissionDenied("the identity provider named no user (no "
                               f"'{mapping.name_claim}' or 'sub' claim)")
    found = _values(claims.get(mapping.role_claim))
    roles = {v for v in found if v in ROLES} | {mapping.role_map[v] for v in found
                                                 if v in mapping.role_map}
    role = next((r for r in PRECEDENCE if r in roles), None)
    if role is None:
        raise PermissionDenied(f"{name} has no registry role in the claim "
                               f"'{mapping.role_claim}'")
    lists = frozenset(_values(claims.get(mapping.lists_claim))) or None
    scope = None
    if role == "proposer":
        raw = str(claims.get(mapping.scope_claim) or "").strip()
        if not raw:
            raise PermissionDenied(f"{name} is a proposer without a scope in the claim "
                                   f"'{mapping.scope_claim}'")
        scope = parse_token_scope(session, raw)
        lists = None
    return Actor(name=name, role=role, lists=lists if role != "admin" else None, scope=scope)
