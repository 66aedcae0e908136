"""`mbdg review`'s web page: Starlette, server-rendered Jinja2 (autoescaped), one small script for
keyboard shortcuts. No front-end build: a page of forms opens in a blink and works without JS.

Each request opens the warehouse briefly (DuckDB admits one writing process; `mbdg run` may need
it between two clicks) and does its work in a thread, so a wait for the lock never blocks others.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import duckdb
from jinja2 import Environment, FileSystemLoader
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from mbdg_assets.storage import warehouse
from mbdg_assets.validate.decisions import Thresholds

from . import actions, calibration, queue
from .security import ACCESS_COOKIE, SESSION_COOKIE, BodyLimit, Guard, plain_response, secured

HERE = Path(__file__).parent
DB_WAIT_SECONDS = 15.0
DONE_MESSAGES = {"approve": "Approved", "reject": "Rejected", "edit": "Edited and approved", "undo": "Undid the decision on"}


@dataclass
class ReviewSettings:
    """What `mbdg review` was started with."""

    warehouse_path: Path
    reviewer: str
    access_token: str = ""
    loopback_only: bool = True
    thresholds: Thresholds = field(default_factory=Thresholds)


def _templates() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["pretty"] = lambda v: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, indent=2)
    env.filters["fmt"] = lambda v, digits=3: "-" if v is None else f"{v:.{digits}f}"
    return env


class ReviewApp:
    """Routes and the state they share (settings, guard, templates)."""

    def __init__(self, settings: ReviewSettings) -> None:
        self.settings = settings
        self.guard = Guard(settings.access_token, settings.loopback_only)
        self.env = _templates()
        self.db_lock = threading.Lock()

    # --- plumbing ------------------------------------------------------------------------------

    def _db(self, work):
        # One warehouse connection at a time in this process: opening runs schema.sql (CREATE OR
        # REPLACE VIEW), and two connections doing that at once conflict inside DuckDB.
        with self.db_lock, warehouse.connect(self.settings.warehouse_path, wait_seconds=DB_WAIT_SECONDS) as con:
            return work(con)

    async def db(self, work):
        return await run_in_threadpool(self._db, work)

    def render(self, request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        context |= {"csrf": self.guard.csrf_token(request.state.session), "reviewer": self.settings.reviewer,
                    "thresholds": self.settings.thresholds}
        return HTMLResponse(self.env.get_template(name).render(**context), status_code=status)

    def error(self, request: Request, status: int, message: str) -> HTMLResponse:
        return self.render(request, "error.html", status, message=message, last=None, pending=None)

    async def form(self, request: Request) -> dict[str, str] | None:
        """The url-encoded form, or None when the CSRF token is missing or wrong (caller sends 403).
        The body was bounded by BodyLimit while it was read."""
        body = await request.body()
        values = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        return values if self.guard.csrf_ok(request.state.session, values.get("csrf")) else None

    @staticmethod
    def filters_of(query: str) -> queue.QueueFilters:
        return queue.QueueFilters.from_mapping({k: v[-1] for k, v in parse_qs(query).items()})

    def _common(self, con: duckdb.DuckDBPyConnection) -> dict:
        counts = queue.review_counts(con)
        return {"last": actions.last_decision_by(con, self.settings.reviewer), "pending": counts["reviews_pending"],
                "reviewed": counts["reviewed"]}

    # --- pages ---------------------------------------------------------------------------------

    async def queue_page(self, request: Request) -> Response:
        filters = self.filters_of(request.url.query)

        def work(con):
            items = queue.load_queue(con, filters, self.settings.thresholds)
            return {"items": items, "options": queue.filter_options(con), **self._common(con)}

        data = await self.db(work)
        return self.render(request, "queue.html", filters=filters, query=urlencode(filters.as_dict()),
                           flash=self._flash(request), **data)

    def _flash(self, request: Request) -> str:
        done, rid = request.query_params.get("done", ""), request.query_params.get("rid", "")
        return f"{DONE_MESSAGES[done]} {rid[:80]}." if done in DONE_MESSAGES else ""

    def _record_context(self, con, record_id: str, filters: queue.QueueFilters) -> dict | None:
        page = queue.load_record(con, record_id)
        if page is None:
            return None
        prev_id, next_id = queue.neighbours(queue.load_queue(con, filters, self.settings.thresholds), record_id)
        return {"page": page, "version": actions.version_of(page.reviews), "prev_id": prev_id, "next_id": next_id,
                "reason_hints": sorted({r for rs in page.stage_reasons.values() for r in rs} | set(page.other_reasons)),
                **self._common(con)}

    async def record_page(self, request: Request) -> Response:
        record_id = request.path_params["record_id"]
        filters = self.filters_of(request.url.query)
        data = await self.db(lambda con: self._record_context(con, record_id, filters))
        if data is None:
            return self.error(request, 404, f"no record {record_id}")
        return self.render(request, "record.html", filters=filters, query=urlencode(filters.as_dict()),
                           flash=self._flash(request), problem="", **data)

    async def decide(self, request: Request) -> Response:
        form = await self.form(request)
        if form is None:
            return self.error(request, 403, "missing or wrong CSRF token: reload the page and try again")
        record_id, action = request.path_params["record_id"], form.get("action", "")
        filters = self.filters_of(form.get("back", ""))

        def work(con):
            page = queue.load_record(con, record_id)
            if page is None:
                return 404, f"no record {record_id}"
            try:
                self._apply(con, page, action, form)
            except (actions.DecisionConflict, ValueError) as problem:
                return (409 if isinstance(problem, actions.DecisionConflict) else 400), str(problem)
            return 303, queue.neighbours(queue.load_queue(con, filters, self.settings.thresholds), record_id)[1]

        status, detail = await self.db(work)
        if status == 303:
            return self._after(filters, action, record_id, detail)
        if status == 404:
            return self.error(request, 404, detail)
        return await self._refused(request, record_id, filters, detail, status)

    def _apply(self, con, page: queue.RecordPage, action: str, form: dict[str, str]) -> None:
        reason = form.get("reason", "").strip()[:2000]
        version = form.get("version", "")
        if action == "approve":
            actions.record_decision(con, page.record_id, "approve", self.settings.reviewer, version, reason)
        elif action == "reject":
            if not reason:
                raise ValueError("a rejection needs a reason")
            actions.record_decision(con, page.record_id, "reject", self.settings.reviewer, version, reason)
        elif action == "edit":
            changed = actions.edited_fields(page.fields, {k[6:]: v for k, v in form.items() if k.startswith("field.")})
            if not changed:
                raise ValueError("nothing was changed: use approve to keep the record as it is")
            actions.record_decision(con, page.record_id, "edit", self.settings.reviewer, version, reason, changed)
        else:
            raise ValueError(f"unknown action {action[:20]!r}")

    def _after(self, filters: queue.QueueFilters, action: str, record_id: str, next_id: str | None) -> Response:
        query = urlencode(filters.as_dict() | {"done": action, "rid": record_id})
        target = f"/record/{next_id}?{query}" if next_id else f"/?{query}"
        return RedirectResponse(target, status_code=303)

    async def _refused(self, request: Request, record_id: str, filters, problem: str, status: int) -> Response:
        data = await self.db(lambda con: self._record_context(con, record_id, filters))
        return self.render(request, "record.html", status, filters=filters, query=urlencode(filters.as_dict()),
                           flash="", problem=problem, **data)

    async def undo(self, request: Request) -> Response:
        form = await self.form(request)
        if form is None:
            return self.error(request, 403, "missing or wrong CSRF token: reload the page and try again")
        record_id = form.get("record_id", "")
        filters = self.filters_of(form.get("back", ""))

        def work(con):
            try:
                actions.undo_decision(con, record_id, form.get("version", ""))
            except actions.DecisionConflict as problem:
                return str(problem)
            return ""

        problem = await self.db(work)
        if problem:
            return self.error(request, 409, problem)
        query = urlencode(filters.as_dict() | {"done": "undo", "rid": record_id})
        return RedirectResponse(f"/record/{record_id}?{query}", status_code=303)

    async def calibration_page(self, request: Request) -> Response:
        def work(con):
            return {"cal": calibration.calibrate(calibration.reviewed_rows(con), self.settings.thresholds), **self._common(con)}

        data = await self.db(work)
        hint = calibration.run_config_hint(data["cal"].suggested) if data["cal"].suggested else ""
        return self.render(request, "calibration.html", hint=hint, **data)

    async def document_page(self, request: Request) -> Response:
        path = request.query_params.get("path", "")
        data = await self.db(lambda con: {"chunks": queue.document_chunks(con, path), **self._common(con)})
        if not data["chunks"]:
            return self.error(request, 404, f"no extracted document {path}")
        return self.render(request, "document.html", path=path, focus=request.query_params.get("chunk", ""), **data)

    # --- middleware ----------------------------------------------------------------------------

    async def guard_requests(self, request: Request, call_next) -> Response:
        """Host check, access token, session cookie, security headers (see security.py)."""
        if not self.guard.host_ok(request.headers.get("host", "")):
            return plain_response(400, "unexpected Host header: open the page as http://127.0.0.1:PORT/")
        token = request.query_params.get("token")
        if self.guard.access_token and token is not None:
            if not self.guard.token_ok(token):
                return plain_response(401, "wrong access token")
            query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
            path = "/" + request.url.path.lstrip("/")  # never "//host": that would leave the site
            response = RedirectResponse(path + (f"?{query}" if query else ""), status_code=303)
            response.set_cookie(ACCESS_COOKIE, self.guard.access_cookie(), httponly=True, samesite="strict")
            return secured(response)
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or None
        if not self.guard.access_ok(bearer, request.cookies.get(ACCESS_COOKIE)):
            return plain_response(401, "this review page needs its access token: open the URL `mbdg review` printed (…?token=…)")
        session = request.cookies.get(SESSION_COOKIE)
        fresh = not self.guard.session_ok(session)
        request.state.session = self.guard.new_session() if fresh else session
        try:
            response = await call_next(request)
        except duckdb.IOException as error:
            response = plain_response(503, f"the warehouse is busy or unavailable ({error}); try again in a moment")
        if fresh:
            response.set_cookie(SESSION_COOKIE, request.state.session, httponly=True, samesite="strict")
        return secured(response)


def create_app(settings: ReviewSettings) -> Starlette:
    """The ASGI app `mbdg review` serves (tests drive it with Starlette's TestClient)."""
    app = ReviewApp(settings)
    routes = [
        Route("/", app.queue_page),
        Route("/record/{record_id}", app.record_page),
        Route("/record/{record_id}/decide", app.decide, methods=["POST"]),
        Route("/undo", app.undo, methods=["POST"]),
        Route("/calibration", app.calibration_page),
        Route("/document", app.document_page),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(BodyLimit),
                                               Middleware(BaseHTTPMiddleware, dispatch=app.guard_requests)])
