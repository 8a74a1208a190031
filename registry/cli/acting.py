"""Who a command acts as: an API token's holder (``--token``), or the operator.

With ``--token`` (or ``REGISTRY_TOKEN``) a command is checked exactly as the API would
check the token: its role, lists and scope. Without it, the command runs as the system
administrator at the console, under the free-text ``--actor`` name for the audit trail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from registry.errors import ValidationError
from registry.services.actors import Actor

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

OPERATOR = "system"
TokenOpt = Annotated[str | None, typer.Option(
    "--token", envvar="REGISTRY_TOKEN", show_default=False,
    help="Act as this API token's holder, checked as the API checks it (role, lists, "
         "scope). Without it the command runs as the system administrator.")]
ActorOpt = Annotated[str, typer.Option(
    "--actor", envvar="REGISTRY_ACTOR",
    help="The system administrator's name in the audit trail (not with --token).")]


def acting(session: Session, actor_name: str, token: str | None) -> Actor:
    """The actor of a command (see the module docstring)."""
    if token:
        # Here, not at the top: the commands' options (and --help) need only the names.
        from registry.services import tokens

        if actor_name != OPERATOR:
            raise ValidationError("actor", "token",
                                  "--actor names the system administrator; with --token "
                                  "the token's holder acts")
        actor = tokens.authenticate(session, token)
        tokens.touch(session, actor.name)
        return actor
    return Actor(actor_name, "admin")
