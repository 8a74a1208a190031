"""Read pages: home, a list, an entry, releases and sync consumers."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session
from starlette.responses import Response

from registry.config import today
from registry.dates import iso_day
from registry.errors import ValidationError
from registry.services import change_sets, code_lists, queries, sync_ledger
from registry.services.feed import read_head
from registry.web import lineage_svg, reads
from registry.web.errors import rule_text
from registry.web.plumbing import login_redirect, whole_number
from registry.web.rendering import Web

PAGE_SIZE = 50
MAX_PAGE = 200
CHILDREN_SHOWN = 100
STATUSES = ("active", "retired", "all")


def parse_day(web: Web, value: str | None) -> tuple[date, str | None]:
    """A date from the query (default: today in Viet Nam) and the error to show, if any."""
    if not value:
        return today(), None
    try:
        return iso_day(value), None
    except ValueError:
        return today(), web.t("error.bad_date")


def home(web: Web, session: Session) -> Response:
    """Each list with its entry count, the latest releases, and pending change sets."""
    day = today()
    counts = queries.count_entries(session, day)
    pending = [cs for status in ("submitted", "approved")
               for cs in change_sets.list_change_sets(session, status, limit=20)]
    drafts = []
    if web.actor is not None:
        drafts = [cs for cs in change_sets.list_change_sets(session, "draft", limit=50)
                  if cs.author == web.actor.name]
    return web.render("home.html", lists=code_lists.all_lists(session), counts=counts,
                      day=day, releases=reads.releases(session, limit=8),
                      pending=sorted(pending, key=lambda cs: cs.id, reverse=True),
                      drafts=drafts, head=queries.latest_release(session))


def list_page(web: Web, session: Session) -> Response:
    """Search as you type, filters, an "as of" date and keyset pages.

    An htmx request (``HX-Request``) gets the results alone, to swap in place.
    """
    key = web.request.path_params["key"]
    code_list = code_lists.get_list(session, key)
    rules = code_lists.rules_for(code_list)
    params = web.request.query_params
    q = params.get("q", "").strip()
    level = params.get("level", "") if params.get("level", "") in rules.levels else ""
    type_ = params.get("type", "") if params.get("type", "") in rules.type_level else ""
    parent = params.get("parent", "").strip()
    status = params.get("status", "active")
    status = status if status in STATUSES else "active"
    day, date_error = parse_day(web, params.get("as_of"))
    after = params.get("after") or None
    raw_first = params.get("first", "")
    asked = whole_number(raw_first)
    first = min(max(asked, 5), MAX_PAGE) if asked is not None else PAGE_SIZE
    error = None
    try:
        page = queries.list_entries(
            session, key, parent=parent or None, level=level or None, type=type_ or None,
            status=None if status == "all" else status, search=q or None, as_of=day,
            first=first, after=after)
    except ValidationError as exc:
        error = rule_text(web.t, exc)
        page = queries.list_entries(session, key, as_of=day, first=PAGE_SIZE, status=None)
    parents = queries.get_entries(session, key, sorted({e.parent for e in page.items
                                                        if e.parent}), day)
    filters = {"q": q, "level": level, "type": type_, "parent": parent,
               "status": status if status != "active" else "",
               "as_of": params.get("as_of", "") if not date_error else "",
               "first": str(first) if first != PAGE_SIZE else ""}
    context: dict[str, Any] = dict(
        code_list=code_list, rules=rules, page=page, parents=parents, day=day, filters=filters,
        date_error=date_error, error=error, first_page=after is None)
    htmx = web.request.headers.get("hx-request") == "true"
    if htmx and not web.request.headers.get("hx-history-restore-request"):
        return web.render("list_results.html", **context)
    return web.render("list.html", **context)


def entry_page(web: Web, session: Session) -> Response:
    """State on a date, history with releases and legal bases, children, and lineage."""
    key = web.request.path_params["key"]
    code = web.request.path_params["code"]
    code_list = code_lists.get_list(session, key)
    rules = code_lists.rules_for(code_list)
    history = queries.history(session, key, code)  # NotFound for an unknown code
    day, date_error = parse_day(web, web.request.query_params.get("as_of"))
    current = [h.version for h in history if h.version.superseded_release is None]
    # The history holds every current record, so the version valid on the date is among
    # them: the same answer as queries.get_entry, without a second read.
    version = next((v for v in current if v.valid_from <= day
                    and (v.valid_to is None or day < v.valid_to)), None)
    latest = max(current, key=lambda v: v.valid_from, default=history[-1].version)
    shown = version or latest
    ancestors = queries.ancestors(session, key, code, day) if version else []
    children = reads.children(session, key, code, day, CHILDREN_SHOWN) if version else None
    predecessors = queries.lineage(session, key, code, "predecessors")
    successors = queries.lineage(session, key, code, "successors")
    codes = {lk.from_code for lk in [*predecessors, *successors]} | {
        lk.to_code for lk in [*predecessors, *successors]}
    picture = lineage_svg.layout(code, shown.name, shown.status, predecessors, successors,
                                 reads.labels(session, key, sorted(codes - {code})))
    timeline = sorted(history, key=lambda h: (h.version.valid_from, h.release), reverse=True)
    return web.render("entry.html", code_list=code_list, rules=rules, code=code, day=day,
                      date_error=date_error, version=version, shown=shown,
                      ancestors=list(reversed(ancestors)), children=children,
                      timeline=timeline, picture=picture,
                      is_today=day == today())


def releases_page(web: Web, session: Session) -> Response:
    """Releases newest first, with their change sets and counts."""
    raw = web.request.query_params.get("before", "")
    before = whole_number(raw)
    rows = reads.releases(session, before=before, limit=PAGE_SIZE)
    older = rows[-1].id if len(rows) == PAGE_SIZE and rows[-1].id > 1 else None
    return web.render("releases.html", releases=rows, older=older, paged=before is not None)


def sync_page(web: Web, session: Session) -> Response:
    """Each replica with its release, lag and last contact; those behind flagged.

    The ledger's rule is the API's (:func:`sync_ledger.may_read`): an anonymous visitor is
    asked to sign in, even where anonymous reading of the registry is on.
    """
    if web.actor is None:
        return login_redirect(web)
    return web.render("sync.html", consumers=sync_ledger.consumers_for(session, web.actor),
                      head=read_head(session))
