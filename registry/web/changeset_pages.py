"""Change-set pages: create, add operations, upload, submit, review, approve, reject, publish.

Every action calls :mod:`registry.services.change_sets`, as the API and the CLI do; the
services enforce roles, the author's exclusion from review, and the workflow. This module
only turns forms into service calls and the answers back into pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.datastructures import FormData, UploadFile
from starlette.responses import RedirectResponse, Response

from registry.errors import NotFound, PermissionDenied, RegistryError, ValidationError
from registry.importers.plans import ImportPlan, refuse_bad_rows
from registry.models import ChangeSet
from registry.services import change_sets, code_lists, comments, plan_cache
from registry.services.change_sets import STATUSES, parse_legal_basis
from registry.services.operations import parse_date, parse_operation
from registry.services.planner import Plan, plan_operations
from registry.web import diff_view, op_forms, uploads
from registry.web.errors import error_text, message, rule_text
from registry.web.plumbing import FormPage, Rendered, field, status_of, whole_number
from registry.web.rendering import Web

OPS_PER_PAGE = 50
EDITOR_ROLES = ("steward", "approver", "admin", "proposer")
CENTRAL_ROLES = ("steward", "approver", "admin")
CREATE_FIELDS = ("title", "legal_number", "legal_date", "legal_issuer", "legal_url",
                 "effective_date")
_LEGAL_FIELD = {"legal_basis.number": "legal_number", "legal_basis.date": "legal_date",
                "legal_basis.issuer": "legal_issuer", "legal_basis.url": "legal_url"}


@dataclass(frozen=True)
class Rights:
    """What the current user may do with one change set (the services check again)."""

    edit: bool
    submit: bool
    withdraw: bool
    approve: bool
    reject: bool
    publish: bool
    is_author: bool
    comment: bool = False
    request_changes: bool = False
    adopt: bool = False


def rights(web: Web, cs: ChangeSet) -> Rights:
    """Which buttons to show: the author sees Approve too, and the service refuses it."""
    actor = web.actor
    if actor is None:
        return Rights(False, False, False, False, False, False, False)
    author = actor.name == cs.author
    editor = (author or actor.role == "admin") and actor.role in EDITOR_ROLES
    reviewer = actor.role in ("approver", "admin")
    central = actor.role in CENTRAL_ROLES and not author
    return Rights(edit=editor and cs.status == "draft", submit=editor and cs.status == "draft",
                  withdraw=editor and cs.status in ("draft", "submitted", "approved"),
                  approve=reviewer and cs.status == "submitted",
                  reject=reviewer and cs.status in ("submitted", "approved"),
                  publish=reviewer and cs.status == "approved", is_author=author,
                  comment=comments.may_take_part(cs, actor),
                  request_changes=central and cs.status == "submitted",
                  adopt=central and actor.role != "admin" and cs.status == "submitted"
                  and cs.proposal_scope is not None and cs.proposed_by is None)


def cs_id_of(web: Web) -> int:
    """The change set the page's path names (a whole number the database can hold)."""
    raw = str(web.request.path_params["cs_id"])
    if not raw.isascii() or not raw.isdigit():
        raise ValidationError("id", "type", "a change set number is a whole number")
    found = whole_number(raw)
    if found is None:
        raise NotFound(f"no change set {raw}")
    return found


def _version(form: FormData) -> int | None:
    raw = field(form, "version")
    # Compared with the stored version in Python, never sent to the database: any size
    # gives a conflict, not an overflow.
    return int(raw) if raw.isascii() and raw.isdigit() else None


# -- listing and creating ---------------------------------------------------------------


def list_page(web: Web, session: Session) -> Response:
    """Change sets, newest first, by status."""
    status = web.request.query_params.get("status", "")
    status = status if status in STATUSES else ""
    mine = web.actor.name if web.actor is not None and web.request.query_params.get(
        "mine") == "1" else None
    proposals = web.request.query_params.get("proposals") == "1"
    found = change_sets.list_change_sets(session, status or None, limit=200, mine=mine,
                                         proposals=proposals)
    return web.render("changesets.html", change_sets=found, status=status, statuses=STATUSES,
                      mine=mine is not None, proposals=proposals,
                      can_create=web.actor is not None and web.actor.role in EDITOR_ROLES)


def _require_editor_role(web: Web) -> None:
    if web.actor is None or web.actor.role not in EDITOR_ROLES:
        raise PermissionDenied("creating a change set needs the role steward or approver")


def new_page(web: Web, session: Session) -> Response:
    """The form that opens a draft."""
    _require_editor_role(web)
    return web.render("changeset_new.html", values={}, errors={})


def create(web: Web, session: Session, form: FormData) -> Response:
    """Open a draft with its legal basis and effective date; errors go next to fields."""
    _require_editor_role(web)
    assert web.actor is not None
    values = {name: field(form, name) for name in CREATE_FIELDS}
    errors: dict[str, list[str]] = {}
    for name in ("title", "legal_number", "legal_issuer", "legal_date", "effective_date"):
        if not values[name]:
            errors.setdefault(name, []).append(web.t("error.required"))
    for name in ("legal_date", "effective_date"):
        if not values[name]:
            continue
        try:
            parse_date(values[name], name)
        except ValidationError as exc:
            errors.setdefault(name, []).append(rule_text(web.t, exc))
    if not errors:
        try:
            basis = parse_legal_basis({"number": values["legal_number"],
                                       "date": values["legal_date"],
                                       "issuer": values["legal_issuer"],
                                       "url": values["legal_url"] or None})
            draft = change_sets.create_change_set(
                session, web.actor, values["title"], basis,
                parse_date(values["effective_date"], "effective_date"))
        except ValidationError as exc:
            errors.setdefault(_LEGAL_FIELD.get(exc.field, exc.field), []).append(
                rule_text(web.t, exc))
    if errors:
        raise Rendered(web.render("changeset_new.html", 400, values=values, errors=errors))
    web.flash(web.t("cs.created", id=draft.id))
    return web.redirect(f"{web.base}/change-sets/{draft.id}")


# -- the change-set page ----------------------------------------------------------------


def _plan(session: Session, cs: ChangeSet, ops: list[dict[str, Any]]) -> Plan | None:
    if cs.status not in ("draft", "submitted", "approved") or not ops:
        return None
    # Once per change-set state, shared with GraphQL's preview: a reload does not re-plan.
    return plan_cache.plan_of(session, cs, ops)


def render_detail(web: Web, session: Session, cs_id: int, status_code: int = 200,
                  **overrides: Any) -> Response:
    """The change set with its diff, forms and actions; ``overrides`` refill a bad form."""
    cs = change_sets.get_change_set(session, cs_id)
    operations = change_sets.operations_of(session, cs_id)
    payloads = [op.payload for op in operations]
    plan = _plan(session, cs, payloads)
    views, general = diff_view.op_views(web.t, [(op.id, op.payload) for op in operations], plan)
    raw_from = web.request.query_params.get("ops_from", "0")
    start = whole_number(raw_from) or 0
    start = start if start < len(views) else 0
    may = rights(web, cs)
    lists = [c for c in code_lists.all_lists(session)
             if web.actor is not None and web.actor.can_edit(c.key)]
    params = web.request.query_params
    add_kind = overrides.pop("add_kind", None) or params.get("add", "create")
    add_kind = add_kind if add_kind in op_forms.KINDS else "create"
    keys = [c.key for c in lists]
    add_list = overrides.pop("add_list", None) or params.get("list", "")
    if add_list not in keys:
        add_list = "admin-units" if "admin-units" in keys else (keys[0] if keys else "")
    rules = code_lists.rules_for(next(c for c in lists if c.key == add_list)) \
        if add_list else None
    problems = (plan.errors if plan else [])
    context: dict[str, Any] = dict(
        cs=cs, views=views[start:start + OPS_PER_PAGE], total_ops=len(views), start=start,
        next_start=start + OPS_PER_PAGE if start + OPS_PER_PAGE < len(views) else None,
        general=general, problem_count=len(problems), summary=plan.summary() if plan else {},
        planned=plan is not None, events=change_sets.events_of(session, cs_id), may=may,
        threads=comments.by_operation(comments.threads_of(session, cs_id)) if may.comment
        else {},
        lists=lists, add_kind=add_kind, add_list=add_list, rules=rules,
        kinds=op_forms.KINDS, source_rows=op_forms.SOURCE_ROWS,
        target_rows=op_forms.TARGET_ROWS, link_rows=op_forms.LINK_ROWS, values={},
        field_errors={}, form_error=None,
        action_error=None, upload_error=None)
    context.update(overrides)
    return web.render("changeset.html", status_code, **context)


def detail_page(web: Web, session: Session) -> Response:
    """GET: the change set."""
    return render_detail(web, session, cs_id_of(web))


def refuse(web: Web, session: Session, cs_id: int, exc: RegistryError, **extra: Any) -> None:
    """Answer with the change-set page naming the refusal (the transaction rolls back)."""
    raise Rendered(render_detail(web, session, cs_id, status_of(exc),
                                 action_error=error_text(web.t, exc), **extra))


# -- operations -------------------------------------------------------------------------


def add_operation(web: Web, session: Session, form: FormData) -> Response:
    """Check the form's operation against the draft so far; add it only if it is sound."""
    assert web.actor is not None
    cs_id = cs_id_of(web)
    cs = change_sets.get_change_set(session, cs_id)
    kind, list_key = field(form, "kind"), field(form, "list")
    # The service checks these too; checking first keeps a refusal from reading as a
    # validation problem of the operation.
    if not rights(web, cs).edit:
        raise PermissionDenied(f"only the author edits change set {cs_id}, while it is a draft")
    if not web.actor.can_edit(list_key):
        raise PermissionDenied(f"{web.actor.name} may not edit the list '{list_key}'")
    existing = change_sets.operation_payloads(session, cs_id)
    index = len(existing)
    where = f"operations[{index}]"
    problems: list[op_forms.FieldError] = []
    raw: dict[str, Any] = {}
    try:
        found = next((c for c in code_lists.all_lists(session) if c.key == list_key), None)
        types = ({name: str(spec.get("type")) for name, spec in
                  code_lists.rules_for(found).attributes.items()} if found else {})
        raw = op_forms.operation_from_form(kind, list_key, form, where, types)
        parsed = parse_operation(raw, where)
    except ValidationError as exc:
        problems = op_forms.errors_for([exc], index, kind) or [
            op_forms.FieldError(op_forms.GENERAL, exc.rule, exc.detail)]
    else:
        plan = plan_operations(session, cs.effective_date, [*existing, parsed])
        problems = op_forms.blocking(op_forms.errors_for(plan.errors, index, kind))
    if problems:
        by_field: dict[str, list[str]] = {}
        for problem in problems:
            by_field.setdefault(problem.field, []).append(rule_text(
                web.t, ValidationError(problem.field, problem.rule, problem.message)))
        values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        raise Rendered(render_detail(web, session, cs_id, 400, add_kind=kind,
                                     add_list=list_key, values=values, field_errors=by_field,
                                     form_error=web.t("op.not_saved")))
    try:
        change_sets.add_operations(session, web.actor, cs_id, [raw], _version(form),
                                   first_index=index)
    except RegistryError as exc:
        refuse(web, session, cs_id, exc)
    web.flash(web.t("cs.op_added"))
    query = f"?add={kind}&list={list_key}#add" if kind in op_forms.KINDS else ""
    return web.redirect(f"{web.base}/change-sets/{cs_id}{query}")


def remove_operation(web: Web, session: Session, form: FormData) -> Response:
    """Take one operation out of a draft."""
    assert web.actor is not None
    cs_id = cs_id_of(web)
    raw = str(web.request.path_params["op_id"])
    try:
        found = whole_number(raw)
        change_sets.remove_operation(session, web.actor, cs_id,
                                     found if found is not None else -1, _version(form))
    except RegistryError as exc:
        refuse(web, session, cs_id, exc)
    web.flash(web.t("cs.op_removed"))
    return web.redirect(f"{web.base}/change-sets/{cs_id}")


# -- workflow ---------------------------------------------------------------------------


def _workflow(action: str) -> FormPage:
    def handler(web: Web, session: Session, form: FormData) -> Response:
        assert web.actor is not None
        cs_id = cs_id_of(web)
        comment = field(form, "comment")
        message = ""
        try:
            if action == "submit":
                change_sets.submit(session, web.actor, cs_id, _version(form))
                message = web.t("cs.submitted")
            elif action == "withdraw":
                change_sets.withdraw(session, web.actor, cs_id, _version(form))
                message = web.t("cs.withdrawn")
            elif action == "approve":
                change_sets.approve(session, web.actor, cs_id, _version(form), comment or None)
                message = web.t("cs.approved")
            elif action == "reject":
                change_sets.reject(session, web.actor, cs_id, comment, _version(form))
                message = web.t("cs.rejected")
            elif action == "request_changes":
                change_sets.request_changes(session, web.actor, cs_id, comment,
                                            _version(form))
                message = web.t("cs.changes_requested")
            elif action == "adopt":
                change_sets.adopt(session, web.actor, cs_id, _version(form))
                message = web.t("cs.adopted")
            else:
                release = change_sets.publish(session, web.actor, cs_id, _version(form))
                message = web.t("cs.published", n=release)
        except RegistryError as exc:
            refuse(web, session, cs_id, exc, comment=comment)
        web.flash(message)
        return web.redirect(f"{web.base}/change-sets/{cs_id}")

    return handler


submit = _workflow("submit")
withdraw = _workflow("withdraw")
approve = _workflow("approve")
reject = _workflow("reject")
publish = _workflow("publish")
request_changes = _workflow("request_changes")
adopt = _workflow("adopt")


# -- uploads ----------------------------------------------------------------------------


def _new_problems(web: Web, session: Session, cs: ChangeSet,
                  plan: ImportPlan) -> list[tuple[int, str]]:
    """Problems the file's operations would bring into the draft: (row of the plan, text)."""
    existing = change_sets.operation_payloads(session, cs.id)
    checked = plan_operations(session, cs.effective_date, [*existing, *plan.operations])
    by_op, general = diff_view.split_problems(checked.errors)
    out = [(-1, f"{p.where}: {message(web.t, p.rule, p.message, p.where)}") for p in general]
    for index, problems in sorted(by_op.items()):
        if index < len(existing):
            continue
        for problem in problems:
            if problem.rule not in op_forms.DEPENDS_ON_OTHERS:
                out.append((index - len(existing), f"{problem.where}: "
                            f"{message(web.t, problem.rule, problem.message, problem.where)}"))
    return out


def upload(web: Web, session: Session, form: FormData) -> Response:
    """Read the file through the importer and show the preview; save nothing."""
    assert web.actor is not None
    cs_id = cs_id_of(web)
    cs = change_sets.get_change_set(session, cs_id)
    if not rights(web, cs).edit:
        raise PermissionDenied(f"only the author edits change set {cs_id}, while it is a draft")
    sent = form.get("file")
    layout = field(form, "layout") if field(form, "layout") in uploads.LAYOUTS else "csv"
    list_key = "admin-units" if layout == "gso" else field(form, "list")
    if not isinstance(sent, UploadFile) or not sent.filename:
        refuse(web, session, cs_id, ValidationError("file", "required", "choose a file"),
                upload_error=web.t("rule.required.file"))
    assert isinstance(sent, UploadFile)
    data = sent.file.read()
    request = uploads.Upload(cs_id, web.actor.name, sent.filename or "upload", layout,
                             list_key, field(form, "whole") == "1",
                             field(form, "skip_bad") == "1")
    if not web.actor.can_edit(list_key):
        raise PermissionDenied(f"{web.actor.name} may not edit the list '{list_key}'")
    try:
        plan = uploads.plan_upload(session, request, data, cs.effective_date)
    except RegistryError as exc:
        raise Rendered(render_detail(web, session, cs_id, status_of(exc),
                                     upload_error=error_text(web.t, exc))) from None
    token = uploads.stage(request, data)
    problems = _new_problems(web, session, cs, plan)
    raise Rendered(web.render("changeset_preview.html", cs=cs, plan=plan, token=token,
                              problems=problems, upload=request,
                              **_preview_texts(web, request, plan)))


_IGNORED = re.compile(r"^ignored columns: (.*)$")
_LAYOUT = re.compile(r"^layout: (with|without) districts")
_FORMULA = re.compile(r"^warning: (.+?): column '(.*)' holds .*formula")


def _preview_texts(web: Web, request: uploads.Upload, plan: ImportPlan) -> dict[str, Any]:
    """The importer's sentences (written for the CLI, in English) in the page's language.

    The scope follows from the form, the descriptions from the operations themselves, and
    the two notes an upload can carry (ignored columns, the GSO layout) are read back.
    """
    t = web.t
    scope = t("cs.scope.whole") if request.whole else t(f"cs.scope.{request.layout}")
    examples: dict[str, list[str]] = {}
    for op in plan.operations:
        shown = examples.setdefault(op["op"], [])
        if len(shown) < 10:
            shown.append(diff_view.describe(t, op))
    notes = []
    for note in plan.notes:
        if found := _IGNORED.match(note):
            notes.append(t("cs.note.ignored", columns=found.group(1)))
        elif found := _LAYOUT.match(note):
            notes.append(t(f"cs.note.layout_{found.group(1)}"))
        elif found := _FORMULA.match(note):
            notes.append(t("cs.note.formula", where=found.group(1), column=found.group(2)))
    descriptions = [diff_view.describe(t, op) for op in plan.operations]
    return {"examples": examples, "scope": scope, "notes": notes,
            "descriptions": descriptions}


def save_upload(web: Web, session: Session, form: FormData) -> Response:
    """Plan the staged file again and add its operations to the draft."""
    assert web.actor is not None
    cs_id = cs_id_of(web)
    cs = change_sets.get_change_set(session, cs_id)
    token = str(web.request.path_params["token"])
    if field(form, "cancel"):
        uploads.discard(token)
        return web.redirect(f"{web.base}/change-sets/{cs_id}")
    try:
        request, data = uploads.load(token, cs_id, web.actor.name)
    except RegistryError:
        web.flash(web.t("cs.preview_expired"), "error")
        return web.redirect(f"{web.base}/change-sets/{cs_id}")
    try:
        plan = uploads.plan_upload(session, request, data, cs.effective_date)
        refuse_bad_rows(plan, request.skip_bad)
        if not plan.operations:
            raise ValidationError("file", "no_change", f"{request.filename} matches the list")
        problems = _new_problems(web, session, cs, plan)
        if problems:  # already in the page's language: shown as they are
            shown = "; ".join(p for _, p in problems[:10])
            raise Rendered(render_detail(web, session, cs_id, 400, upload_error=(
                f"{web.t('cs.problems', n=len(problems))}: {shown}")))
        existing = len(change_sets.operation_payloads(session, cs_id))
        change_sets.add_operations(session, web.actor, cs_id, plan.operations, _version(form),
                                   first_index=existing)
    except RegistryError as exc:
        refuse(web, session, cs_id, exc)
    web.flash(web.t("cs.preview_saved", n=len(plan.operations)))
    response = web.redirect(f"{web.base}/change-sets/{cs_id}")
    if isinstance(response, RedirectResponse):
        # After the response, so after the commit: a failed commit keeps the file.
        response.background = BackgroundTask(uploads.discard, token)
    return response
