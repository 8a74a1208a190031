"""The GraphQL object types: entries (typed by list), code lists, releases, change sets.

Scalar fields are plain attributes filled when the object is built (the cheapest way for
graphql-core to read them); relations are async resolvers that go through the request's
DataLoaders, at the ``When`` of the object they hang off.
"""
# strawberry types its decorators for its own mypy plugin, which the project does not
# load; called with arguments they look untyped to plain mypy.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

import anyio.to_thread
import strawberry
from sqlalchemy import select
from strawberry.scalars import JSON

from registry.errors import PermissionDenied
from registry.graphql.bounds import CAPPED, PAGED, capped, check_page, page
from registry.graphql.context import Context, When
from registry.graphql.ids import to_global
from registry.models import ChangeSet as ChangeSetRow
from registry.models import ChangeSetComment as ChangeSetCommentRow
from registry.models import ChangeSetEvent as ChangeSetEventRow
from registry.models import CodeList as CodeListRow
from registry.models import Operation as OperationRow
from registry.models import Release as ReleaseRow
from registry.services import change_sets, comments, graph_reads, plan_cache
from registry.services.graph_reads import Filters
from registry.services.queries import EntryView, HistoryItem, LinkView, Page, Resolution
from registry.text import fold

Info = strawberry.Info[Context, None]
T = TypeVar("T")
Offset = Annotated[int, strawberry.argument(description="Items to skip: the next page starts "
                                                        "at `offset + first`.")]


def _first(field: str) -> Any:
    bound = PAGED[field]
    return strawberry.argument(description=f"At most this many items, 1 to {bound.maximum} "
                                           f"(default {bound.default}).")


HistoryFirst = Annotated[int, _first("history")]
LinksFirst = Annotated[int, _first("successors")]
AgenciesFirst = Annotated[int, _first("implementingAgencies")]
OperationsFirst = Annotated[int, _first("operations")]
EventsFirst = Annotated[int, _first("events")]
CommentsFirst = Annotated[int, _first("comments")]
MAX_ANCESTORS = CAPPED[("Entry", "ancestors")]


@strawberry.interface(description="An object with a global ID (Relay).")
class Node:
    id: strawberry.ID


# -- connections ---------------------------------------------------------------------------


@strawberry.type(description="Relay page information; cursors are opaque keyset positions.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="One item of a connection with its cursor.")
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A page of a list (Relay connection). `first` is required, "
                             "at most 100.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    nodes: list[T]
    page_info: PageInfo


def connection_of(items: list[T], cursors: list[str], has_next: bool,
                  has_previous: bool) -> Connection[T]:
    """A connection from the items of a page and their cursors."""
    return Connection(
        edges=[Edge(cursor=c, node=n) for c, n in zip(cursors, items, strict=True)],
        nodes=items,
        page_info=PageInfo(has_next_page=has_next, has_previous_page=has_previous,
                           start_cursor=cursors[0] if cursors else None,
                           end_cursor=cursors[-1] if cursors else None),
    )


def entry_connection(page: Page, when: When, by_name: bool,
                     after: str | None) -> Connection[Entry]:
    """The connection of a page of entries, read at ``when``."""
    from registry.services.queries import encode_cursor

    cursors = [encode_cursor([fold(v.name), v.code] if by_name else [v.code])
               for v in page.items]
    return connection_of([entry_object(v, when) for v in page.items], cursors, page.has_next,
                         after is not None)


# -- entries -------------------------------------------------------------------------------


@strawberry.enum(description="Kind of a lineage link.")
class LinkKind(enum.Enum):
    WHOLE = "whole"
    PART = "part"


@strawberry.type(description="One recorded version of an entry: the auditor's view.")
class EntryRecord:
    valid_from: date
    valid_to: date | None
    status: str
    name: str
    short_name: str | None
    name_en: str | None
    type: str
    level: str
    parent_code: str | None
    attributes: JSON
    recorded_release: int = strawberry.field(description="The release that recorded it.")
    superseded_release: int | None = strawberry.field(
        description="The release from which a later record replaced it, if any.")
    change_set_id: int | None
    legal_number: str | None
    title: str | None


def _record(item: HistoryItem) -> EntryRecord:
    v = item.version
    return EntryRecord(valid_from=v.valid_from, valid_to=v.valid_to, status=v.status,
                       name=v.name, short_name=v.short_name, name_en=v.name_en, type=v.type,
                       level=v.level, parent_code=v.parent, attributes=JSON(v.attributes),
                       recorded_release=v.recorded_release,
                       superseded_release=v.superseded_release, change_set_id=v.change_set_id,
                       legal_number=item.legal_number, title=item.title)


@strawberry.type(description="A lineage link seen from one entry: what it became, or came "
                             "from.")
class LineageLink:
    from_code: str
    to_code: str
    kind: LinkKind
    is_default: bool = strawberry.field(description="The default successor of a split.")
    share: float | None = strawberry.field(description="Share of area or population, (0, 1].")
    effective_date: date
    release: int
    change_set_id: int | None
    list_key: strawberry.Private[str]
    other: strawberry.Private[str]
    other_on: strawberry.Private[date]
    when: strawberry.Private[When]

    @strawberry.field(description="The entry at the other end: a successor as it started, a "
                                  "predecessor on its last day.")
    async def entry(self, info: Info) -> Entry | None:
        view = await info.context.loaders.entry.load(
            (self.list_key, self.other, self.other_on, self.when.release))
        return entry_object(view, When(self.other_on, self.when.release)) if view else None


def _link(link: LinkView, list_key: str, direction: str, when: When) -> LineageLink:
    if direction == "successors":
        other, on = link.to_code, link.effective_date
    else:
        other, on = link.from_code, graph_reads.day_before(link.effective_date)
    return LineageLink(from_code=link.from_code, to_code=link.to_code,
                       kind=LinkKind(link.kind), is_default=link.is_default, share=link.share,
                       effective_date=link.effective_date, release=link.release,
                       change_set_id=link.change_set_id, list_key=list_key, other=other,
                       other_on=on, when=when)


@strawberry.interface(description="An entry of a code list, as of a date and a release. "
                                  "Nested fields answer at the same time as their parent.")
class Entry(Node):
    list_key: str = strawberry.field(name="list", description="The code list key.")
    code: str
    name: str = strawberry.field(description="Official name, exact spelling (NFC).")
    short_name: str | None
    name_en: str | None
    type: str
    level: str
    status: str = strawberry.field(description="`active` or `retired`.")
    valid_from: date
    valid_to: date | None
    attributes: JSON
    recorded_release: int = strawberry.field(description="The release that recorded this "
                                                         "version.")
    view: strawberry.Private[EntryView]
    when: strawberry.Private[When]

    @strawberry.field(description="The valid-time date this entry was read at.")
    def as_of(self) -> date:
        return self.when.as_of

    @strawberry.field(description="The parent entry, at the same `asOf`/`atRelease`.")
    async def parent(self, info: Info) -> Entry | None:
        if self.view.parent is None:
            return None
        view = await info.context.loaders.entry.load(
            (self.view.list_key, self.view.parent, self.when.as_of, self.when.release))
        return entry_object(view, self.when) if view else None

    @strawberry.field(description=f"Parent, grandparent, … up to the top (at most "
                                  f"{MAX_ANCESTORS}).")
    async def ancestors(self, info: Info) -> list[Entry]:
        out: list[Entry] = []
        seen = {self.view.code}
        parent = self.view.parent
        while parent and parent not in seen and len(out) < MAX_ANCESTORS:
            seen.add(parent)
            view = await info.context.loaders.entry.load(
                (self.view.list_key, parent, self.when.as_of, self.when.release))
            if view is None:
                break
            out.append(entry_object(view, self.when))
            parent = view.parent
        return out

    @strawberry.field(description="Entries whose parent this is, by code.")
    async def children(self, info: Info, first: int, after: str | None = None,
                       type: str | None = None, level: str | None = None,
                       status: str | None = "active") -> Connection[Entry]:
        filters = Filters(type=type, level=level, status=status)
        if after is None:
            page = await info.context.loaders.children.load(
                (self.view.list_key, self.view.code, self.when.as_of, self.when.release,
                 first, filters))
        else:
            page = graph_reads.page_entries(
                info.context.reader, self.view.list_key,
                Filters(parent=self.view.code, type=type, level=level, status=status),
                self.when.as_of, self.when.release, first, after)
        return entry_connection(page, self.when, False, after)

    @strawberry.field(description="Every record of this entry, superseded ones included: a "
                                  "page of `first` from `offset`.")
    async def history(self, info: Info, first: HistoryFirst = PAGED["history"].default,
                      offset: Offset = 0) -> list[EntryRecord]:
        check_page("history", first, offset)
        items = await info.context.loaders.history.load(
            (self.view.list_key, self.view.code, self.when.release))
        return [_record(i) for i in page(items, "history", first, offset)]

    @strawberry.field(description="What this entry became (direct links in effect on the "
                                  "entry's `asOf`): a page of `first` from `offset`.")
    async def successors(self, info: Info, first: LinksFirst = PAGED["successors"].default,
                         offset: Offset = 0) -> list[LineageLink]:
        return await self._links(info, "successors", first, offset)

    @strawberry.field(description="What this entry came from (direct links in effect on "
                                  "the entry's `asOf`): a page of `first` from `offset`.")
    async def predecessors(self, info: Info,
                           first: LinksFirst = PAGED["predecessors"].default,
                           offset: Offset = 0) -> list[LineageLink]:
        return await self._links(info, "predecessors", first, offset)

    async def _links(self, info: Info, direction: str, first: int,
                     offset: int) -> list[LineageLink]:
        check_page(direction, first, offset)
        links = await info.context.loaders.links.load(
            (self.view.list_key, self.view.code, direction, self.when.release))
        # Valid time applies to lineage too: a link takes effect on its date.
        found = [lk for lk in links if lk.effective_date <= self.when.as_of]
        return [_link(lk, self.view.list_key, direction, self.when)
                for lk in page(found, direction, first, offset)]

    @strawberry.field(description="The release that recorded this version.")
    async def released_in(self, info: Info) -> Release | None:
        row = await info.context.loaders.release.load(self.view.recorded_release)
        return release_object(row) if row else None

    @strawberry.field(description="The change set that made this version.")
    async def change_set(self, info: Info) -> ChangeSet | None:
        if self.view.change_set_id is None:
            return None
        row = await info.context.loaders.change_set.load(self.view.change_set_id)
        return change_set_object(row) if row else None

    @strawberry.field(description="The code list of this entry.")
    async def code_list(self, info: Info) -> CodeList | None:
        row = await info.context.loaders.code_list.load(self.view.list_key)
        return code_list_object(row) if row else None


def _attr(entry: Entry, name: str) -> Any:
    return entry.view.attributes.get(name)


async def _refs(info: Info, entry: Entry, list_key: str, codes: list[str]) -> list[Any]:
    views = await info.context.loaders.entry.load_many(
        [(list_key, c, entry.when.as_of, entry.when.release) for c in codes])
    return [entry_object(v, entry.when) for v in views if v is not None]


@strawberry.type(description="An administrative unit: province, district or commune.")
class AdministrativeUnit(Entry):
    pass


@strawberry.type(description="A state agency (QCVN 102 identifier).")
class Agency(Entry):
    @strawberry.field(description="Attribute `address`.")
    def address(self) -> str | None:
        return _attr(self, "address")  # type: ignore[no-any-return]

    @strawberry.field(description="Attribute `email`.")
    def email(self) -> str | None:
        return _attr(self, "email")  # type: ignore[no-any-return]

    @strawberry.field(description="Attribute `phone`.")
    def phone(self) -> str | None:
        return _attr(self, "phone")  # type: ignore[no-any-return]

    @strawberry.field(description="Attribute `website`.")
    def website(self) -> str | None:
        return _attr(self, "website")  # type: ignore[no-any-return]

    @strawberry.field(description="The administrative unit the agency belongs to.")
    async def admin_unit(self, info: Info) -> AdministrativeUnit | None:
        code = _attr(self, "admin_unit")
        if not code:
            return None
        found = await _refs(info, self, "admin-units", [code])
        return found[0] if found else None


@strawberry.type(description="An administrative procedure.")
class Procedure(Entry):
    @strawberry.field(description="Attribute `field_code`: the procedure's field.")
    def field_code(self) -> str | None:
        return _attr(self, "field_code")  # type: ignore[no-any-return]

    @strawberry.field(description="Attribute `field_name`.")
    def field_name(self) -> str | None:
        return _attr(self, "field_name")  # type: ignore[no-any-return]

    @strawberry.field(description="Levels that carry it out: central, province, commune.")
    def levels(self) -> list[str]:
        return list(_attr(self, "levels") or [])

    @strawberry.field(description="Attribute `online_level`: full, partial or none.")
    def online_level(self) -> str | None:
        return _attr(self, "online_level")  # type: ignore[no-any-return]

    @strawberry.field(description="Attribute `processing_time`.")
    def processing_time(self) -> str | None:
        return _attr(self, "processing_time")  # type: ignore[no-any-return]

    @strawberry.field(description="Attribute `fees`.")
    def fees(self) -> str | None:
        return _attr(self, "fees")  # type: ignore[no-any-return]

    @strawberry.field(description="The agencies that carry the procedure out: a page of "
                                  "`first` from `offset`.")
    async def implementing_agencies(
            self, info: Info, first: AgenciesFirst = PAGED["implementingAgencies"].default,
            offset: Offset = 0) -> list[Agency]:
        codes = list(_attr(self, "implementing_agencies") or [])
        return await _refs(info, self, "agencies",
                           page(codes, "implementingAgencies", first, offset))

    @strawberry.field(description="The agency competent to decide.")
    async def competent_agency(self, info: Info) -> Agency | None:
        code = _attr(self, "competent_agency")
        if not code:
            return None
        found = await _refs(info, self, "agencies", [code])
        return found[0] if found else None


@strawberry.type(description="An entry of any other list.")
class GenericEntry(Entry):
    pass


_TYPED: dict[str, type[Entry]] = {"admin-units": AdministrativeUnit, "agencies": Agency,
                                  "procedures": Procedure}


def entry_class(list_key: str) -> type[Entry]:
    """The GraphQL type of the entries of a list."""
    return _TYPED.get(list_key, GenericEntry)


def entry_object(view: EntryView, when: When) -> Entry:
    """The typed GraphQL object of a version, read at ``when``."""
    cls = entry_class(view.list_key)
    return cls(id=strawberry.ID(to_global("Entry", f"{view.list_key}:{view.code}")),
               list_key=view.list_key, code=view.code, name=view.name,
               short_name=view.short_name, name_en=view.name_en, type=view.type,
               level=view.level, status=view.status, valid_from=view.valid_from,
               valid_to=view.valid_to, attributes=JSON(view.attributes),
               recorded_release=view.recorded_release, view=view, when=when)


# -- resolve -------------------------------------------------------------------------------


@strawberry.enum(description="What a code denotes on a date.")
class ResolutionStatus(enum.Enum):
    ACTIVE = "active"
    ENDED = "ended"
    NOT_YET = "not_yet"


@strawberry.type(description="An entry that now holds (part of) the area a code denoted. "
                             "A code that continues is among its own successors, and is "
                             "their default unless its people went to a part.")
class ResolvedSuccessor:
    entry: Entry
    is_default: bool = strawberry.field(description="The usual choice for an address under the "
                                                    "code; the address decides.")
    kinds: list[str] = strawberry.field(description="The kinds (`whole`, `part`) of the links "
                                                    "followed, in order; empty for the code's "
                                                    "own entry.")
    share: float | None


@strawberry.type(name="Resolution", description="What a code denotes on a date; for an "
                 "ended code, its successors on that date; for an active code that gave parts "
                 "of its area to other entries, itself and them.")
class ResolutionResult:
    list_key: str = strawberry.field(name="list")
    code: str
    as_of: date
    status: ResolutionStatus
    entry: Entry | None = strawberry.field(description="The version on the date (for an "
                                                       "ended code, its retired version).")
    ended_on: date | None
    divided_on: date | None = strawberry.field(
        description="For an active code: the latest date by `asOf` on which part of its area "
                    "went to other entries. An address recorded on or after it is not "
                    "concerned.")
    ambiguous: bool = strawberry.field(description="An address under this code may now lie in "
                                                   "more than one successor: a divided code, "
                                                   "or one that continues but gave parts of "
                                                   "its area away. The default is the usual "
                                                   "choice; check the address.")
    successors: list[ResolvedSuccessor]


def resolution_object(found: Resolution, when: When) -> ResolutionResult:
    """The GraphQL form of a resolution."""
    return ResolutionResult(
        list_key=found.list_key, code=found.code, as_of=found.on,
        status=ResolutionStatus(found.status),
        entry=entry_object(found.entry, when) if found.entry else None,
        ended_on=found.ended_on, divided_on=found.divided_on, ambiguous=found.ambiguous,
        successors=[ResolvedSuccessor(entry=entry_object(s.entry, when), is_default=s.is_default,
                                      kinds=list(s.kinds), share=s.share)
                    for s in capped(found.successors, "Resolution", "successors")])


# -- code lists, releases, change sets -----------------------------------------------------


@strawberry.type(description="A level of a code list's hierarchy.")
class Level:
    key: str
    name: str
    types: list[str]
    parents: list[str]


@strawberry.type(description="A code list: its definition is data (docs/list-format.md).")
class CodeList(Node):
    key: str
    name: str
    name_en: str | None
    owner: str | None
    release: int = strawberry.field(description="The release that defined it last.")
    definition: JSON
    levels: list[Level]


def code_list_object(row: CodeListRow) -> CodeList:
    """The GraphQL form of a code list."""
    d = row.definition
    return CodeList(id=strawberry.ID(to_global("CodeList", row.key)), key=row.key, name=row.name,
                    name_en=row.name_en, owner=row.owner, release=row.release_id,
                    definition=JSON(d),
                    levels=[Level(key=lv["key"], name=lv.get("name", lv["key"]),
                                  types=list(lv.get("types", [])),
                                  parents=list(lv.get("parents", [])))
                            for lv in d.get("levels", [])])


@strawberry.type(description="A published release: record time.")
class Release(Node):
    number: int
    published_at: datetime
    published_by: str
    note: str
    summary: JSON
    first_seq: int
    last_seq: int
    change_set_id: int | None

    @strawberry.field(description="The change set this release published, if any.")
    async def change_set(self, info: Info) -> ChangeSet | None:
        if self.change_set_id is None:
            return None
        row = await info.context.loaders.change_set.load(self.change_set_id)
        return change_set_object(row) if row else None


def release_object(row: ReleaseRow) -> Release:
    """The GraphQL form of a release."""
    return Release(id=strawberry.ID(to_global("Release", str(row.id))), number=row.id,
                   published_at=row.published_at, published_by=row.published_by,
                   note=row.note, summary=JSON(row.summary), first_seq=row.first_seq,
                   last_seq=row.last_seq, change_set_id=row.change_set_id)


@strawberry.type(description="The legal document a change set rests on.")
class LegalBasis:
    number: str
    date: date
    issuer: str
    url: str | None


@strawberry.type(description="One operation of a change set, in the change-set file "
                             "vocabulary (docs/changeset-format.md).")
class ChangeSetOperation:
    id: int
    position: int
    op: str
    list_key: str = strawberry.field(name="list")
    payload: JSON


def operation_object(row: OperationRow) -> ChangeSetOperation:
    """The GraphQL form of an operation."""
    return ChangeSetOperation(id=row.id, position=row.position, op=row.op, list_key=row.list_key,
                              payload=JSON(row.payload))


@strawberry.type(description="A review comment: on the change set, or on one operation "
                             "(`operationId`); a reply names the comment it answers.")
class ChangeSetComment:
    number: int
    operation_id: int | None
    reply_to: int | None
    author: str
    body: str
    at: datetime


@strawberry.type(description="One step of a change set's review: who did what, and when.")
class ChangeSetEvent:
    action: str
    actor: str
    at: datetime
    comment: str | None


def _event(row: ChangeSetEventRow) -> ChangeSetEvent:
    return ChangeSetEvent(action=row.action, actor=row.actor, at=row.at, comment=row.comment)


@strawberry.enum(description="Where a change set is in its life.")
class ChangeSetStatus(enum.Enum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    PUBLISHED = "published"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


@strawberry.type(description="Operations under one legal basis and one effective date, "
                             "reviewed by a second person before publication.")
class ChangeSet(Node):
    number: int = strawberry.field(description="The change set's number (`changeSet(id:)` "
                                               "takes it, or the global ID).")
    title: str
    status: ChangeSetStatus
    author: str
    reviewer: str | None
    comment: str | None
    legal_basis: LegalBasis
    effective_date: date
    created_at: datetime
    updated_at: datetime
    release_number: int | None = strawberry.field(description="Its release, once published.")
    version: int = strawberry.field(description="Optimistic version: pass it as "
                                                "`expectedVersion` to writes.")
    proposal_scope: str | None = strawberry.field(
        default=None, description="A locality's proposal: the proposer's scope "
                                  "(`admin-units:15`, or a list key).")
    proposed_by: str | None = strawberry.field(
        default=None, description="The proposer, once a central steward adopted the proposal "
                                  "as its author.")

    @strawberry.field(description="The review thread, oldest first: comments on the change "
                                  "set or one operation, and replies (`replyTo`); a page of "
                                  "`first` from `offset`. Only for those taking part in the "
                                  "review (its author or proposer, stewards, approvers, "
                                  "administrators).")
    def comments(self, info: Info, first: CommentsFirst = PAGED["comments"].default,
                 offset: Offset = 0) -> list[ChangeSetComment]:
        check_page("comments", first, offset)
        session = info.context.session
        actor = info.context.require_actor("reading review comments")
        if not comments.may_take_part(change_sets.get_change_set(session, self.number), actor):
            raise PermissionDenied(f"{actor.name} takes no part in the review of change set "
                                   f"{self.number}")
        rows = session.scalars(select(ChangeSetCommentRow)
                               .where(ChangeSetCommentRow.change_set_id == self.number)
                               .order_by(ChangeSetCommentRow.id).offset(offset).limit(first))
        return [ChangeSetComment(number=r.id, operation_id=r.operation_id, reply_to=r.parent_id,
                                 author=r.author, body=r.body, at=r.at) for r in rows]

    @strawberry.field(description="Its operations, in order: a page of `first` from "
                                  "`offset` (a draft may hold thousands).")
    def operations(self, info: Info, first: OperationsFirst = PAGED["operations"].default,
                   offset: Offset = 0) -> list[ChangeSetOperation]:
        check_page("operations", first, offset)
        rows = info.context.session.scalars(
            select(OperationRow).where(OperationRow.change_set_id == self.number)
            .order_by(OperationRow.position).offset(offset).limit(first))
        return [operation_object(r) for r in rows]

    @strawberry.field(description="The audit trail: a page of `first` from `offset`.")
    def events(self, info: Info, first: EventsFirst = PAGED["events"].default,
               offset: Offset = 0) -> list[ChangeSetEvent]:
        check_page("events", first, offset)
        found = change_sets.events_of(info.context.session, self.number)
        return [_event(e) for e in page(found, "events", first, offset)]

    @strawberry.field(description="The diff publishing would make now, with every problem "
                                  "(null once published, rejected or withdrawn). Needs an "
                                  "API token; planned once per state of the change set.")
    async def preview(self, info: Info) -> JSON | None:
        if self.status in (ChangeSetStatus.PUBLISHED, ChangeSetStatus.REJECTED,
                           ChangeSetStatus.WITHDRAWN):
            return None
        # Planning a large draft is work: anonymous readers may not ask for it.
        info.context.require_actor("previewing a change set")
        sessions, number = info.context.sessions, self.number

        def diff() -> dict[str, Any]:
            # Its own session, in a worker thread: a first plan may take seconds, and the
            # event loop serves other requests meanwhile.
            with sessions() as session:
                row = change_sets.get_change_set(session, number)
                return plan_cache.plan_of(session, row).diff()

        return JSON(await anyio.to_thread.run_sync(diff))


def change_set_object(row: ChangeSetRow) -> ChangeSet:
    """The GraphQL form of a change set."""
    return ChangeSet(
        id=strawberry.ID(to_global("ChangeSet", str(row.id))), number=row.id, title=row.title,
        status=ChangeSetStatus(row.status), author=row.author, reviewer=row.reviewer,
        comment=row.comment,
        legal_basis=LegalBasis(number=row.legal_number, date=row.legal_date,
                               issuer=row.legal_issuer, url=row.legal_url),
        effective_date=row.effective_date, created_at=row.created_at, updated_at=row.updated_at,
        release_number=row.release_id, version=row.version,
        proposal_scope=row.proposal_scope, proposed_by=row.proposed_by)
