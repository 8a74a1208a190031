"""Root query fields. Every entry read takes ``asOf`` (valid time, default today in Viet Nam)
and ``atRelease`` (record time, default the latest release)."""
# strawberry types its decorators for its own mypy plugin, which the project does not
# load; called with arguments they look untyped to plain mypy.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, TypeVar

import strawberry
from sqlalchemy import select

from registry.errors import ValidationError
from registry.graphql import conversion
from registry.graphql.bounds import capped
from registry.graphql.context import When
from registry.graphql.conversion import ConversionResult
from registry.graphql.ids import from_global, key_number, number_of
from registry.graphql.sync_types import SyncConsumer, consumer_object
from registry.graphql.types import (
    AdministrativeUnit,
    Agency,
    ChangeSet,
    ChangeSetStatus,
    CodeList,
    Connection,
    Entry,
    Info,
    Node,
    Procedure,
    Release,
    ResolutionResult,
    change_set_object,
    code_list_object,
    connection_of,
    entry_connection,
    entry_object,
    release_object,
    resolution_object,
)
from registry.models import ChangeSet as ChangeSetRow
from registry.models import Release as ReleaseRow
from registry.services import change_sets, code_lists, graph_reads, sync_ledger
from registry.services.actors import ROLES as LEDGER_ROLES
from registry.services.graph_reads import Filters, check_first
from registry.services.queries import decode_cursor, encode_cursor

T = TypeVar("T")

AsOf = Annotated[date | None, strawberry.argument(
    description="Valid time: the date the answer is true for (default: today in Viet Nam).")]
AtRelease = Annotated[int | None, strawberry.argument(
    description="Record time: answer as this release did (default: the latest).")]
First = Annotated[int, strawberry.argument(description="Page size, 1 to 100 (required).")]
After = Annotated[str | None, strawberry.argument(description="Cursor of the previous page's "
                                                              "last item.")]
Search = Annotated[str | None, strawberry.argument(
    description="Part of the name; ignores case, diacritics and tone marks (đ = d).")]
ListKey = Annotated[str, strawberry.argument(name="list", description="Code list key.")]
FromDate = Annotated[date | None, strawberry.argument(
    description="The date the input describes (default: the day before the list's latest "
                "reorganisation by `toDate`).")]
ToDate = Annotated[date | None, strawberry.argument(
    description="The date to convert to (default: today in Viet Nam).")]


@strawberry.type(description="Who is asking: the token's name, role and lists.")
class Viewer:
    name: str | None
    role: str
    lists: list[str] | None


async def _one(info: Info, list_key: str, code: str, when: When) -> Entry | None:
    view = await info.context.loaders.entry.load((list_key, code, when.as_of, when.release))
    return entry_object(view, when) if view else None


def _page(info: Info, list_key: str, filters: Filters, when: When, first: int,
          after: str | None) -> Connection[Entry]:
    page = graph_reads.page_entries(info.context.reader, list_key, filters, when.as_of,
                                    when.release, first, after)
    return entry_connection(page, when, bool(filters.search), after)


def list_filters(*, parent: str | None = None, level: str | None = None,
                 type: str | None = None, status: str | None = "active",
                 search: str | None = None, admin_unit: str | None = None,
                 agency: str | None = None, competent_agency: str | None = None,
                 field_code: str | None = None, carried_out_at: str | None = None) -> Filters:
    """The filters of a list field from its arguments (Python names): the one mapping the
    resolvers here and the planned path (registry.graphql.planned) share."""
    equals = tuple((k, v) for k, v in (("admin_unit", admin_unit),
                                       ("competent_agency", competent_agency),
                                       ("field_code", field_code)) if v)
    contains = tuple((k, v) for k, v in (("implementing_agencies", agency),
                                         ("levels", carried_out_at)) if v)
    return Filters(parent=parent, level=level, type=type, status=status, search=search,
                   attribute_equals=equals, attribute_contains=contains)


def _keyset(after: str | None) -> int | None:
    if after is None:
        return None
    values = decode_cursor(after)
    number = key_number(values[0]) if len(values) == 1 else None
    if number is None:
        raise ValidationError("after", "cursor", "is not a cursor this server issued")
    return number


@strawberry.type
class Query:
    @strawberry.field(description="Any object by its global ID (Relay). Entries answer at "
                                  "`asOf`/`atRelease`.")
    async def node(self, info: Info, id: strawberry.ID, as_of: AsOf = None,
                   at_release: AtRelease = None) -> Node | None:
        type_name, key = from_global(str(id))
        if type_name == "Entry":
            list_key, _, code = key.partition(":")
            return await _one(info, list_key, code, info.context.when(as_of, at_release))
        if type_name == "CodeList":
            row = await info.context.loaders.code_list.load(key)
            return code_list_object(row) if row else None
        number = key_number(key)
        if type_name == "Release" and number is not None:
            release = info.context.read_session.get(ReleaseRow, number)
            return release_object(release) if release else None
        if type_name == "ChangeSet" and number is not None:
            change_set = await info.context.loaders.change_set.load(number)
            return change_set_object(change_set) if change_set else None
        raise ValidationError("id", "global_id", "is not an ID this server issued")

    @strawberry.field(description="Who is asking.")
    def viewer(self, info: Info) -> Viewer:
        actor = info.context.actor
        if actor is None:
            return Viewer(name=None, role="anonymous", lists=None)
        return Viewer(name=actor.name, role=actor.role,
                      lists=sorted(actor.lists) if actor.lists is not None else None)

    @strawberry.field(description="Every code list.")
    def code_lists(self, info: Info) -> list[CodeList]:
        rows = code_lists.all_lists(info.context.read_session)
        return [code_list_object(r) for r in capped(rows, "Query", "codeLists")]

    @strawberry.field(description="One code list by key.")
    async def code_list(self, info: Info, key: str) -> CodeList | None:
        row = await info.context.loaders.code_list.load(key)
        return code_list_object(row) if row else None

    @strawberry.field(description="One entry of any list; null if it has no version then.")
    async def entry(self, info: Info, list_key: ListKey, code: str, as_of: AsOf = None,
                    at_release: AtRelease = None) -> Entry | None:
        return await _one(info, list_key, code, info.context.when(as_of, at_release))

    @strawberry.field(description="Entries of any list, by code; with `search`, by name.")
    def entries(self, info: Info, list_key: ListKey, first: First, after: After = None,
                parent: str | None = None, level: str | None = None,
                type: str | None = None, status: str | None = "active",
                search: Search = None, as_of: AsOf = None,
                at_release: AtRelease = None) -> Connection[Entry]:
        return _page(info, list_key, list_filters(parent=parent, level=level, type=type,
                                                  status=status, search=search),
                     info.context.when(as_of, at_release), first, after)

    @strawberry.field(description="An administrative unit by code.")
    async def administrative_unit(self, info: Info, code: str, as_of: AsOf = None,
                                  at_release: AtRelease = None) -> AdministrativeUnit | None:
        found = await _one(info, "admin-units", code, info.context.when(as_of, at_release))
        return found if isinstance(found, AdministrativeUnit) else None

    @strawberry.field(description="Administrative units: a province's communes are "
                                  "`parent: \"01\"`; levels are province, district, commune.")
    def administrative_units(self, info: Info, first: First, after: After = None,
                             parent: str | None = None, level: str | None = None,
                             type: str | None = None, status: str | None = "active",
                             search: Search = None, as_of: AsOf = None,
                             at_release: AtRelease = None) -> Connection[AdministrativeUnit]:
        return _page(info, "admin-units",  # type: ignore[return-value]
                     list_filters(parent=parent, level=level, type=type, status=status,
                                  search=search),
                     info.context.when(as_of, at_release), first, after)

    @strawberry.field(description="An agency by its QCVN 102 code.")
    async def agency(self, info: Info, code: str, as_of: AsOf = None,
                     at_release: AtRelease = None) -> Agency | None:
        found = await _one(info, "agencies", code, info.context.when(as_of, at_release))
        return found if isinstance(found, Agency) else None

    @strawberry.field(description="Agencies; `adminUnit` finds those of one administrative "
                                  "unit.")
    def agencies(self, info: Info, first: First, after: After = None,
                 parent: str | None = None, level: str | None = None,
                 type: str | None = None, admin_unit: str | None = None,
                 status: str | None = "active", search: Search = None, as_of: AsOf = None,
                 at_release: AtRelease = None) -> Connection[Agency]:
        return _page(info, "agencies",  # type: ignore[return-value]
                     list_filters(parent=parent, level=level, type=type, status=status,
                                  search=search, admin_unit=admin_unit),
                     info.context.when(as_of, at_release), first, after)

    @strawberry.field(description="An administrative procedure by code.")
    async def procedure(self, info: Info, code: str, as_of: AsOf = None,
                        at_release: AtRelease = None) -> Procedure | None:
        found = await _one(info, "procedures", code, info.context.when(as_of, at_release))
        return found if isinstance(found, Procedure) else None

    @strawberry.field(description="Procedures; `agency` finds those an agency carries out, "
                                  "`carriedOutAt` those of a level (central, province, "
                                  "commune).")
    def procedures(self, info: Info, first: First, after: After = None,
                   agency: str | None = None, competent_agency: str | None = None,
                   field_code: str | None = None, carried_out_at: str | None = None,
                   status: str | None = "active", search: Search = None, as_of: AsOf = None,
                   at_release: AtRelease = None) -> Connection[Procedure]:
        return _page(info, "procedures",  # type: ignore[return-value]
                     list_filters(status=status, search=search, agency=agency,
                                  competent_agency=competent_agency, field_code=field_code,
                                  carried_out_at=carried_out_at),
                     info.context.when(as_of, at_release), first, after)

    @strawberry.field(description="What a code denotes on a date; for an ended code, what it "
                                  "became (old codes to current ones); for an active code "
                                  "that gave parts of its area away, where they went.")
    def resolve(self, info: Info, list_key: ListKey, code: str, as_of: AsOf = None,
                at_release: AtRelease = None) -> ResolutionResult:
        when = info.context.when(as_of, at_release)
        found = graph_reads.resolve(info.context.reader, list_key, code, when.as_of,
                                    when.release)
        return resolution_object(found, when)

    @strawberry.field(description="Old codes to the units of `toDate`, as the lineage says: "
                                  "up to 1,000 codes, answered in order, each with a status "
                                  "and, when a person must choose, every candidate.")
    async def convert_codes(self, info: Info, *, list_key: ListKey = "admin-units",
                            codes: list[str], from_date: FromDate = None,
                            to_date: ToDate = None,
                            at_release: AtRelease = None) -> ConversionResult:
        return await conversion.convert(info, "codes", codes, list_key, from_date, to_date,
                                        at_release, conversion.convert_code)

    @strawberry.field(description="Free-text addresses (\"P. Quán Thánh, Q. Ba Đình, HN\") to "
                                  "the units of `fromDate` they name and what those are on "
                                  "`toDate`: up to 1,000, answered in order.")
    async def convert_addresses(self, info: Info, addresses: list[str],
                                from_date: FromDate = None, to_date: ToDate = None,
                                at_release: AtRelease = None) -> ConversionResult:
        return await conversion.convert(info, "addresses", addresses, "admin-units",
                                        from_date, to_date, at_release,
                                        conversion.convert_address)

    @strawberry.field(description="The latest release, or release `number`.")
    def release(self, info: Info, number: int | None = None) -> Release | None:
        wanted = info.context.latest() if number is None else number
        row = info.context.read_session.get(ReleaseRow, wanted)
        return release_object(row) if row else None

    @strawberry.field(description="Releases, newest first.")
    def releases(self, info: Info, first: First, after: After = None) -> Connection[Release]:
        return _newest_first(info, ReleaseRow, [], first, after, release_object)

    @strawberry.field(description="One change set by number or global ID.")
    async def change_set(self, info: Info, id: strawberry.ID) -> ChangeSet | None:
        row = await info.context.loaders.change_set.load(number_of(str(id), "ChangeSet", "id"))
        return change_set_object(row) if row else None

    @strawberry.field(description="Local systems replicating the registry, most behind first "
                                  "(the sync ledger). Needs a reader, steward, approver or "
                                  "admin token.")
    def sync_consumers(self, info: Info) -> list[SyncConsumer]:
        info.context.require_actor("reading the sync ledger").require_role(*LEDGER_ROLES)
        found = sync_ledger.list_consumers(info.context.session)
        return [consumer_object(v) for v in capped(found, "Query", "syncConsumers")]

    @strawberry.field(description="Change sets, newest first, optionally of one status; "
                                  "`proposals`: only localities' proposals (the central "
                                  "stewards' queue).")
    def change_sets(self, info: Info, first: First, after: After = None,
                    status: ChangeSetStatus | None = None,
                    proposals: bool = False) -> Connection[ChangeSet]:
        return _change_set_page(info, first, after, status, None, proposals)

    @strawberry.field(description="The change sets the token's holder wrote or proposed, "
                                  "newest first: a locality follows its proposals here.")
    def my_change_sets(self, info: Info, first: First, after: After = None,
                       status: ChangeSetStatus | None = None) -> Connection[ChangeSet]:
        actor = info.context.require_actor("listing your change sets")
        return _change_set_page(info, first, after, status, actor.name, False)


def _change_set_page(info: Info, first: int, after: str | None,
                     status: ChangeSetStatus | None, mine: str | None,
                     proposals: bool) -> Connection[ChangeSet]:
    """A page of change sets (see the two fields above)."""
    conditions = change_sets.change_set_filters(status.value if status else None, mine,
                                                proposals)
    return _newest_first(info, ChangeSetRow, conditions, first, after, change_set_object)


def _newest_first(info: Info, model: Any, conditions: list[Any], first: int,
                  after: str | None, to_object: Callable[[Any], T]) -> Connection[T]:
    """A keyset page of rows by descending id, newest first."""
    check_first(first)
    query = select(model).where(*conditions).order_by(model.id.desc()).limit(first + 1)
    before = _keyset(after)
    if before is not None:
        query = query.where(model.id < before)
    # Releases are published data (any read database); change sets only on the primary.
    session = info.context.session if model is ChangeSetRow else info.context.read_session
    rows = list(session.scalars(query))
    items = rows[:first]
    return connection_of([to_object(r) for r in items],
                         [encode_cursor([str(r.id)]) for r in items], len(rows) > first,
                         after is not None)
