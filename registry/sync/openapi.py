"""The OpenAPI 3.1 description of the sync endpoints, served at ``/sync/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from registry.sync.protocol import (
    DEFAULT_SNAPSHOT_LIMIT,
    MAX_SNAPSHOT_LIMIT,
    MAX_WAIT,
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


_EPOCH = _param("epoch", "path", {"type": "string"},
                "The feed's epoch, from `head`. Another epoch answers 410: take a new snapshot.")
_RELEASE = _param("release", "path", {"type": "integer", "minimum": 0}, "A published release.")
_LISTS = _param("lists", "query", {"type": "string"},
                "Comma-separated list keys; absent means every list.")
_SCOPE = _param("scope", "query", {"type": "string"},
                "`LIST:CODE` (or a bare code of admin-units): only entries that are CODE or lie "
                "under it during their validity.")
_ERRORS = {
    "401": {"description": "A token is needed."},
    "403": {"description": "The token's role may not do this."},
    "404": {"description": "No such page, release, list or scope entry."},
    "410": {"description": "The epoch changed (restore or rebuild): take a new snapshot."},
}


def openapi_document() -> dict[str, Any]:
    """The document (built on demand; it is small)."""
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
                    _param("after", "query", {"type": "integer"},
                           "With `wait`: answer as soon as the head passes this seq."),
                    _param("wait", "query", {"type": "number", "maximum": MAX_WAIT},
                           "Long-poll up to this many seconds."),
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
                    _param("size", "path", {"type": "integer"}, "The page size from `head`."),
                    _param("page", "path", {"type": "integer", "minimum": 0}, "Page number."),
                    _param("wait", "query", {"type": "number", "maximum": MAX_WAIT},
                           "With If-None-Match on the head page: wait for new records."),
                ],
                "responses": {"200": _NDJSON_PAGE, "304": {"description": "Not modified."},
                              **_ERRORS},
            }},
            f"{PREFIX}/hashes/{{epoch}}/{{size}}/{{page}}": {"get": {
                "summary": "The chain hash of every record of a page (diagnostics).",
                "parameters": [_EPOCH,
                               _param("size", "path", {"type": "integer"}, "Page size."),
                               _param("page", "path", {"type": "integer"}, "Page number.")],
                "responses": {"200": {"description": "`{hashes: [[seq, hash], …]}`"},
                              **_ERRORS},
            }},
            f"{PREFIX}/snapshot/{{epoch}}/{{release}}": {"get": {
                "summary": "One page of the consistent snapshot at a release (immutable).",
                "parameters": [
                    _EPOCH, _RELEASE, _LISTS, _SCOPE,
                    _param("after", "query", {"type": "string"},
                           "Position token: `next` of the previous page."),
                    _param("limit", "query",
                           {"type": "integer", "default": DEFAULT_SNAPSHOT_LIMIT,
                            "maximum": MAX_SNAPSHOT_LIMIT}, "Records per page."),
                ],
                "responses": {"200": _NDJSON_PAGE, **_ERRORS},
            }},
            f"{PREFIX}/deltas/{{epoch}}/{{release}}": {"get": {
                "summary": "What one release changes in a scoped subscription: upserts, "
                           "removals and the scoped checksums after it (immutable).",
                "parameters": [_EPOCH, _RELEASE, _LISTS, {**_SCOPE, "required": True}],
                "responses": {"200": _NDJSON_PAGE, **_ERRORS},
            }},
            f"{PREFIX}/checksums/{{epoch}}/{{release}}": {"get": {
                "summary": "Order-independent checksum of each subscribed list at a release.",
                "parameters": [_EPOCH, _RELEASE, _LISTS, _SCOPE],
                "responses": {"200": {"description": "`{release, seq, hash, lists: {key: "
                                                     "{checksum, versions, links, …}}}`"},
                              **_ERRORS},
            }},
            f"{PREFIX}/ledger": {
                "post": {
                    "summary": "A replica reports its position (sync or admin token).",
                    "security": [{"bearer": []}],
                    "requestBody": {"content": {"application/json": {"schema": {
                        "type": "object", "required": ["name", "seq", "release"],
                        "properties": {
                            "name": {"type": "string"}, "epoch": {"type": "string"},
                            "seq": {"type": "integer"}, "release": {"type": "integer"},
                            "lists": {"type": ["array", "null"]},
                            "scope": {"type": ["string", "null"]},
                            "last_error": {"type": ["string", "null"]},
                            "client_version": {"type": ["string", "null"]}}}}}},
                    "responses": {"200": {"description": "The replica as the ledger sees it."},
                                  **_ERRORS},
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
                "responses": {"200": {"description": "OpenAPI 3.1"}},
            }},
        },
    }
