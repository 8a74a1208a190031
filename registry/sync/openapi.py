"""The OpenAPI 3.1 description of the sync endpoints, served at ``/sync/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from registry.limits import Limits, env_name
from registry.services import sync_ledger
from registry.sync import params
from registry.sync.params import Bounded
from registry.sync.protocol import (
    CHANGE_LINE_ENCODINGS,
    HEAD_SEQ_HEADER,
    LINE_ENCODINGS,
    PREFIX,
    SUPPORTED_FORMAT,
)

_NDJSON_PAGE = {
    "description": "Newline-delimited JSON, gzip-compressed when accepted: one header "
                   "object, then one compact array per record `[schema, value, …]` whose keys "
                   "are `header.schemas[schema]`. `header.digest` is the SHA-256 of every "
                   "byte after the header line.",
    "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
}


def _param(name: str, where: str, schema: dict[str, Any], description: str,
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path",
            "schema": schema, "description": description}


def _bounded(bound: Bounded, where: str, description: str) -> dict[str, Any]:
    return _param(bound.name, where, bound.schema(), description)


_EPOCH = _param("epoch", "path", {"type": "string", "pattern": params.EPOCH_PATTERN},
                "The feed's epoch, from `head`. Another epoch answers 410: take a new snapshot.")
_RELEASE = _bounded(params.RELEASE, "path", "A published release.")
_SCOPE = _param("scope", "query", {"type": "string", "maxLength": params.SCOPE_CHARS},
                "`LIST:CODE` (or a bare code of admin-units): only entries that are CODE or lie "
                "under it during their validity.")
_WAIT = _bounded(params.WAIT, "query", "Long-poll up to this many seconds.")
_ERROR_BODY = {"application/json": {"schema": {
    "type": "object", "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                   "field": {"type": "string"}, "rule": {"type": "string"}}}}}
_ERRORS = {
    "400": {"description": "A parameter breaks its rule; `field` and `rule` name which.",
            "content": _ERROR_BODY},
    "401": {"description": "A token is needed.", "content": _ERROR_BODY},
    "403": {"description": "The token's role may not do this.", "content": _ERROR_BODY},
    "404": {"description": "No such page, release, list or scope entry.",
            "content": _ERROR_BODY},
    "410": {"description": "The epoch changed (restore or rebuild): take a new snapshot.",
            "content": _ERROR_BODY},
}


def _too_large(limits: Limits) -> dict[str, Any]:
    return {"description": f"The body is larger than {limits.graphql_body_bytes} bytes "
                           f"({env_name('graphql_body_bytes')}); `field` is `body`, `rule` "
                           "`max_bytes`.", "content": _ERROR_BODY}


def _lists(limits: Limits) -> dict[str, Any]:
    return _param("lists", "query",
                  {"type": "string", "maxLength": params.lists_chars(limits.sync_lists)},
                  f"Comma-separated list keys (at most {limits.sync_lists}); absent means "
                  "every list.")


def _report_schema(limits: Limits) -> dict[str, Any]:
    """The body of a ledger report, with the bounds :func:`sync_ledger.parse_report` holds."""
    def text(cut: int) -> dict[str, Any]:
        # Cut, not refused (a replica's long error is still worth keeping): no maxLength.
        return {"type": ["string", "null"],
                "description": f"Kept to its first {cut} characters."}

    return {
        "type": "object", "required": ["name", "seq", "release"],
        "properties": {
            "name": {"type": "string", "pattern": sync_ledger.NAME_PATTERN},
            "epoch": text(64),
            "seq": {"type": "integer", "minimum": 0, "maximum": params.MAX_INT},
            "release": {"type": "integer", "minimum": 0, "maximum": params.MAX_INT},
            "lists": {"type": ["array", "null"], "maxItems": limits.sync_lists,
                      "items": {"type": "string",
                                "maxLength": sync_ledger.LIST_NAME_CHARS}},
            "scope": text(params.SCOPE_CHARS), "last_error": text(4000),
            "client_version": text(64)}}


def openapi_document(limits: Limits) -> dict[str, Any]:
    """The document (built on demand; it is small), with this process's limits."""
    lists = _lists(limits)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Registry sync feed",
            "version": "1",
            "description": "A hash-chained change feed with snapshots, scoped deltas, "
                           "per-list checksums and a ledger of replicas. Record format "
                           f"{SUPPORTED_FORMAT}. See docs/sync-protocol.md.",
        },
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{}, {"bearer": []}],
        "paths": {
            f"{PREFIX}/head": {"get": {
                "summary": "Where the feed ends: epoch, seq, release, hash, format, page size.",
                "parameters": [
                    _bounded(params.SEQ_AFTER, "query",
                             "With `wait`: answer as soon as the head passes this seq."),
                    _WAIT,
                ],
                "responses": {"200": {"description": "The head (Cache-Control: no-cache).",
                                      "content": {"application/json": {"schema": {
                                          "type": "object",
                                          "required": ["epoch", "seq", "release", "hash",
                                                       "format", "page_size"]}}}},
                              **_ERRORS},
            }},
            f"{PREFIX}/changes/{{epoch}}/{{size}}/{{page}}": {"get": {
                "summary": "Change page: the records with seq in [page·size+1, (page+1)·size].",
                "description": "A complete page is `immutable` with a strong ETag (the hash of "
                               "its last record). The page holding the head is `no-cache`, "
                               "answers `If-None-Match` with 304 and long-polls with `wait`.",
                "parameters": [
                    _EPOCH,
                    _bounded(params.SIZE, "path", "The page size from `head`."),
                    _bounded(params.PAGE, "path", "Page number."),
                    _bounded(params.SEQ_AFTER, "query",
                             "Only the records after this seq (a following replica)."),
                    _bounded(params.WAIT, "query",
                             "With If-None-Match or `after` on the head page: wait up to "
                             "this many seconds for new records."),
                    _param("lines", "query",
                           {"type": "string", "enum": list(CHANGE_LINE_ENCODINGS),
                            "default": "json"},
                           "`canonical`: each line is a record's canonical JSON text, the "
                           "bytes its chain hash covers (the header says `lines`)."),
                ],
                "responses": {"200": {**_NDJSON_PAGE, "headers": {HEAD_SEQ_HEADER: {
                    "description": "The feed's head seq when the page was served: where a "
                                   "follower may fetch complete pages ahead up to (a hint; "
                                   "the hash chain decides what is applied).",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"}}}},
                              "304": {"description": "Not modified."}, **_ERRORS},
            }},
            f"{PREFIX}/hashes/{{epoch}}/{{size}}/{{page}}": {"get": {
                "summary": "The chain hash of every record of a page (diagnostics).",
                "parameters": [_EPOCH, _bounded(params.SIZE, "path", "Page size."),
                               _bounded(params.PAGE, "path", "Page number.")],
                "responses": {"200": {"description": "`{hashes: [[seq, hash], …]}`"},
                              **_ERRORS},
            }},
            f"{PREFIX}/snapshot/{{epoch}}/{{release}}": {"get": {
                "summary": "One page of the consistent snapshot at a release (immutable).",
                "parameters": [
                    _EPOCH, _RELEASE, lists, _SCOPE,
                    _param("after", "query",
                           {"type": "string", "maxLength": params.MAX_TOKEN_CHARS},
                           "Position token: `next` of the previous page."),
                    _bounded(params.LIMIT, "query", "Records per page."),
                    _param("lines", "query",
                           {"type": "string", "enum": list(LINE_ENCODINGS),
                            "default": "json"},
                           "`copy`: versions as lines of PostgreSQL's COPY text format, in "
                           "the columns the header's `copy` names (other records stay "
                           "JSON lines)."),
                ],
                "responses": {"200": _NDJSON_PAGE, **_ERRORS},
            }},
            f"{PREFIX}/deltas/{{epoch}}/{{release}}": {"get": {
                "summary": "What one release changes in a subscription to some lists or a "
                           "scope (one of the two is required): upserts, removals and the "
                           "checksums of the lists it touches before and after it "
                           "(immutable).",
                "parameters": [_EPOCH, _RELEASE, lists, _SCOPE, _bounded(
                    params.THROUGH, "query",
                    "Span the releases from `release` up to this one: the answer holds "
                    "those that change a subscribed list, each followed by its marker, up "
                    "to about `REGISTRY_SYNC_DELTA_RECORDS` records (the header's `release` "
                    "says where it stops), and ends with the marker of the last release it "
                    "covers.")],
                "responses": {"200": _NDJSON_PAGE, **_ERRORS},
            }},
            f"{PREFIX}/checksums/{{epoch}}/{{release}}": {"get": {
                "summary": "Order-independent checksum of each subscribed list at a release.",
                "parameters": [_EPOCH, _RELEASE, lists, _SCOPE],
                "responses": {"200": {"description": "`{release, seq, hash, lists: {key: "
                                                     "{checksum, versions, links, …}}}`"},
                              **_ERRORS},
            }},
            f"{PREFIX}/ledger": {
                "post": {
                    "summary": "A replica reports its position (sync or admin token).",
                    "security": [{"bearer": []}],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": _report_schema(limits)}}},
                    "responses": {"200": {"description": "The replica as the ledger sees it."},
                                  **_ERRORS, "413": _too_large(limits)},
                },
                "get": {
                    "summary": "Every replica with its release, lag and last contact "
                               "(reader, steward, approver or admin token).",
                    "security": [{"bearer": []}],
                    "responses": {"200": {"description": "`{consumers: […]}`"}, **_ERRORS},
                },
            },
            f"{PREFIX}/openapi.json": {"get": {
                "summary": "This document.", "security": [{}],
                "responses": {"200": {"description": "OpenAPI 3.1",
                                      "content": {"application/json": {
                                          "schema": {"type": "object"}}}}},
            }},
        },
    }
