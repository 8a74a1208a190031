"""Reading a GraphQL request's JSON: strict UTF-8, bounded nesting, an object at the top.

A body that is not that is the client's mistake and gets a 400 naming it, before the JSON
decoder can fail in its own ways: ``json.loads`` guesses UTF-16 for some invalid bytes,
raises ``RecursionError`` on 100,000 nested brackets, and a bare number at the top then
fails where the view expects an object. The decoder's own recursion guard stops a deep
document early (it gives up at Python's recursion limit, long before reading 100,000
levels); what it accepts is then measured without recursion against the ``json_depth``
limit.
"""

from __future__ import annotations

import json
from typing import Any


class BadBody(ValueError):
    """The body is not a GraphQL request; the message names what is wrong."""


def nesting(value: Any) -> int:
    """How deeply ``value``'s lists and objects nest (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            stack.extend((member, depth + 1) for member in item)
    return deepest


def decode(data: str | bytes, max_depth: int, where: str = "body") -> Any:
    """The JSON of a request body, or of a GET's ``variables`` or ``extensions`` parameter
    (``where`` names which, in the error), or :class:`BadBody`."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadBody(f"{where}: is not UTF-8 text") from None
    else:
        text = data
    too_deep = BadBody(f"{where}: JSON nests deeper than {max_depth} levels "
                       "(REGISTRY_MAX_JSON_DEPTH)")
    try:
        value = json.loads(text)
    except RecursionError:
        raise too_deep from None
    except ValueError as exc:
        raise BadBody(f"{where}: is not JSON ({exc})") from None
    if nesting(value) > max_depth:
        raise too_deep
    return value


def check_request(value: Any) -> None:
    """A request is a JSON object; a batch, a list of them."""
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, dict):
            raise BadBody("body: must be a JSON object with a 'query' (or a list of them)")


def check_parameter(value: Any, where: str) -> None:
    """A GET's ``variables`` (or ``extensions``) is a JSON object."""
    if not isinstance(value, dict):
        raise BadBody(f"{where}: must be a JSON object")
