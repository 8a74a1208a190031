"""Jinja2 rendering: one environment, autoescaping everywhere, and the per-request page context.

Everything a template shows goes through autoescaping (``.html`` and ``.svg`` templates
alike); nothing is marked safe except markup built here from escaped parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from registry.config import TIMEZONE, Settings, load_settings
from registry.services.actors import Actor
from registry.web.errors import message
from registry.web.i18n import LANGS, Translator, pick_lang, translator
from registry.web.security import csrf_token

TEMPLATES = Path(__file__).resolve().parent / "templates"
LANG_COOKIE = "lang"
FLASH = "flash"

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(("html", "svg"), default_for_string=True, default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    # Templates ship with the package and never change while serving.
    auto_reload=False,
)


def format_date(value: date | None, lang: str) -> str:
    """Vietnamese dates read dd/mm/yyyy; English pages show ISO dates."""
    if value is None:
        return ""
    return value.strftime("%d/%m/%Y") if lang == "vi" else value.isoformat()


def format_datetime(value: datetime | None, lang: str) -> str:
    """A moment in Viet Nam's time zone, to the minute."""
    if value is None:
        return ""
    local = value.astimezone(TIMEZONE) if value.tzinfo else value
    return local.strftime("%d/%m/%Y %H:%M" if lang == "vi" else "%Y-%m-%d %H:%M")


def format_number(value: int, lang: str) -> str:
    """Thousands grouped: 10.035 in Vietnamese, 10,035 in English."""
    text = f"{value:,}"
    return text.replace(",", ".") if lang == "vi" else text


def entry_path(base: str, list_key: str, code: str, as_of: date | None = None) -> str:
    """The entry page of (list, code)."""
    path = f"{base}/lists/{quote(list_key, safe='')}/{quote(code, safe='')}"
    return f"{path}?as_of={as_of.isoformat()}" if as_of else path


def list_path(base: str, list_key: str, **params: Any) -> str:
    """The list page, with non-empty ``params`` as its query."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    path = f"{base}/lists/{quote(list_key, safe='')}"
    return f"{path}?{query}" if query else path


@dataclass
class Web:
    """What every handler and template knows about the request: who, which language."""

    request: Request
    lang: str
    t: Translator
    actor: Actor | None
    settings: Settings
    base: str
    lang_from_query: bool = False
    extra_headers: dict[str, str] = field(default_factory=dict)

    def can_read(self) -> bool:
        """Anonymous reads are allowed unless the registry is configured otherwise."""
        return self.actor is not None or self.settings.anonymous_read

    def flash(self, message: str, kind: str = "ok") -> None:
        """A message shown once on the next page (after a redirect)."""
        stored = self.request.session.get(FLASH)
        items = stored if isinstance(stored, list) else []
        items.append([kind, message])
        self.request.session[FLASH] = items[-5:]

    def redirect(self, path: str) -> Response:
        """303 to a page of ours (POST → redirect → GET)."""
        response = RedirectResponse(path if path.startswith("/") else f"{self.base}/",
                                    status_code=303)
        self._finish(response)
        return response

    def _finish(self, response: Response) -> None:
        if self.lang_from_query:
            response.set_cookie(LANG_COOKIE, self.lang, max_age=365 * 86400, samesite="lax",
                                httponly=True)
        for name, value in self.extra_headers.items():
            response.headers[name] = value

    def lang_url(self, lang: str) -> str:
        """This page in another language."""
        params = [(k, v) for k, v in self.request.query_params.multi_items() if k != "lang"]
        params.append(("lang", lang))
        return f"{self.request.url.path}?{urlencode(params)}"

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        """Render ``template`` with the page context and ``context``."""
        body = env.get_template(template).render(self.context(), **context)
        response = HTMLResponse(body, status_code=status_code)
        self._finish(response)
        return response

    def context(self) -> dict[str, Any]:
        """Names every template may use."""
        flashes = self.request.session.pop(FLASH, None) if FLASH in self.request.session else None
        base, lang = self.base, self.lang
        other = "en" if lang == "vi" else "vi"
        return {
            "t": self.t, "lang": lang, "other_lang": other,
            "lang_url": self.lang_url(other), "actor": self.actor,
            "csrf": csrf_token(self.request), "base": base,
            "path": self.request.url.path,
            "flashes": flashes if isinstance(flashes, list) else [],
            "fdate": lambda v: format_date(v, lang),
            "fdatetime": lambda v: format_datetime(v, lang),
            "fnum": lambda n: format_number(n, lang),
            "rule_msg": lambda rule, detail, where="": message(self.t, rule, detail, where),
            "entry_url": lambda k, c, d=None: entry_path(base, k, c, d),
            "list_url": lambda k, **p: list_path(base, k, **p),
            "cs_url": lambda i: f"{base}/change-sets/{int(i)}",
            "name_of": lambda obj: (getattr(obj, "name_en", None) or obj.name)
            if lang == "en" else obj.name,
        }


def settings_of(request: Request) -> Settings:
    """The app's settings (``create_app`` keeps them on ``app.state``)."""
    found = getattr(request.app.state, "settings", None) if "app" in request.scope else None
    return found if isinstance(found, Settings) else load_settings()


def make_web(request: Request, actor: Actor | None) -> Web:
    """The page context of ``request`` for ``actor``."""
    query = request.query_params.get("lang")
    lang = pick_lang(query, request.cookies.get(LANG_COOKIE))
    return Web(request=request, lang=lang, t=translator(lang), actor=actor,
               settings=settings_of(request),
               base=str(request.scope.get("root_path", "")).rstrip("/"),
               lang_from_query=query in LANGS)
