"""The annotation web application (FastAPI, server-rendered HTML, no JavaScript).

Routes:
  GET  /a/{token}                          resume: redirect to the first unanswered step
  GET  /a/{token}/t/{position}/round/{r}   judge the Receiver's update in round r
  GET  /a/{token}/t/{position}/rate        rate the transcript's quality and one's confidence
  GET  /a/{token}/done                     thank-you page, with links to review answers
  POST /a/{token}/answer                   save one round's answers (form or JSON)
  POST /a/{token}/rating                   save one transcript's rating (form or JSON)
  GET  /admin/export/{answers.csv|transcripts.csv|summary.json|summary.md}
                                           results; needs "Authorization: Bearer <admin token>"

The secret token in the path is the annotator's only credential, so request logging here
names annotators by label and the server is run without uvicorn's access log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from .flow import Step, TranscriptState, may_open, next_step, step_after, step_counts
from .forms import FormError, parse_rating_form, parse_round_form
from .storage import Annotator, Rating, RoundAnswer, Store
from .summary import answers_csv, load_annotations, report_markdown, summary_dict, transcripts_csv
from .views import conversation, round_view

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
MAX_BODY_BYTES = 64 * 1024
SECURITY_HEADERS = {
    # No scripts at all, nothing from other origins, forms post only here.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    # The link carries the secret: never send it to another site as a referrer.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class Refusal(Exception):
    """A request refused with a message meant for the person who made it."""

    status: int
    title: str
    message: str
    fields: dict[str, str] = field(default_factory=dict)
    back_url: str | None = None


_NOT_FOUND = Refusal(404, "Page not found", "There is no page here. Please use the personal link you were given.")


@dataclass(frozen=True)
class StudyConfig:
    title: str = "Persuasion study"
    completion_url: str | None = None  # e.g. the crowdsourcing platform's completion link


def _wants_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    accept = request.headers.get("accept", "")
    return content_type.startswith("application/json") or ("application/json" in accept and "text/html" not in accept)


async def form_data(request: Request) -> dict[str, Any]:
    """The submitted fields, from an HTML form (urlencoded) or a JSON object."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise Refusal(413, "Submission too large", f"A submission may be at most {MAX_BODY_BYTES // 1024} KB.")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/json":
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError("not an object")
            return data
        if content_type in ("application/x-www-form-urlencoded", ""):
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
            return {k: v[0] if len(v) == 1 else v for k, v in parsed.items()}
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refusal(400, "Unreadable submission", f"The submission could not be read ({exc}).") from exc
    raise Refusal(415, "Unsupported submission", "Send the answers as an HTML form or as a JSON object.")


class Study:
    """Request handling on top of the store; one per app."""

    def __init__(self, store: Store, config: StudyConfig) -> None:
        self.store = store
        self.config = config
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))

    # -- lookups ---------------------------------------------------------------------------

    def annotator(self, token: str) -> Annotator:
        annotator = self.store.annotator_by_token(token)
        if annotator is None:
            # Same answer for any unknown token: nothing to learn by probing.
            raise Refusal(404, "Link not recognised", "This link is not valid. Please check that you copied the whole link you were given.")
        return annotator

    def states(self, annotator: Annotator) -> list[TranscriptState]:
        game_ids = self.store.assignments(annotator)
        if not game_ids:
            raise Refusal(503, "No transcripts yet", "There are no transcripts to annotate yet. Please try again later.")
        states = []
        for position, game_id in enumerate(game_ids, start=1):
            answered = frozenset(self.store.round_answers(annotator.id, game_id))
            rated = self.store.rating(annotator.id, game_id) is not None
            states.append(TranscriptState(position, self.store.game(game_id), answered, rated))
        return states

    # -- urls ------------------------------------------------------------------------------

    @staticmethod
    def step_url(token: str, step: Step | None) -> str:
        if step is None:
            return f"/a/{token}/done"
        if step.round is None:
            return f"/a/{token}/t/{step.position}/rate"
        return f"/a/{token}/t/{step.position}/round/{step.round}"

    # -- rendering -------------------------------------------------------------------------

    def page(self, request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        return self.templates.TemplateResponse(request, name, {"study_title": self.config.title, **context}, status_code=status)

    def common(self, token: str, annotator: Annotator, states: list[TranscriptState], step: Step | None) -> dict[str, Any]:
        done, total = step_counts(states)
        nav = [
            {"state": s, "url": self.step_url(token, Step(s.position, 1)), "open": may_open(states, Step(s.position, 1)),
             "current": step is not None and s.position == step.position}
            for s in states
        ]
        return {"token": token, "annotator": annotator.label, "states": states, "nav": nav,
                "steps_done": done, "steps_total": total, "percent": round(100 * done / total) if total else 0}

    def round_page(self, request: Request, token: str, position: int, number: int,
                   values: dict[str, str] | None = None, errors: dict[str, str] | None = None, status: int = 200) -> HTMLResponse:
        annotator = self.annotator(token)
        states = self.states(annotator)
        step = self.reachable(token, states, Step(position, number))
        state = states[position - 1]
        if values is None:
            saved = self.store.round_answers(annotator.id, state.game.game_id).get(number)
            values = {"direction": ("yes" if saved.direction_ok else "no") if saved else "",
                      "proportion": str(saved.proportion) if saved else "", "explanation": saved.explanation if saved else ""}
        context = self.common(token, annotator, states, step) | {
            "state": state, "game": state.game, "round": number, "view": round_view(state.game, number),
            "values": values, "errors": errors or {}, "show_instructions": position == 1 and number == 1,
            "back_url": self.step_url(token, self.previous(states, step)),
        }
        return self.page(request, "round.html", context, status)

    def rate_page(self, request: Request, token: str, position: int,
                  values: dict[str, str] | None = None, errors: dict[str, str] | None = None, status: int = 200) -> HTMLResponse:
        annotator = self.annotator(token)
        states = self.states(annotator)
        step = self.reachable(token, states, Step(position, None))
        state = states[position - 1]
        if values is None:
            saved = self.store.rating(annotator.id, state.game.game_id)
            values = {"quality": str(saved.quality) if saved else "", "confidence": str(saved.confidence) if saved else ""}
        context = self.common(token, annotator, states, step) | {
            "state": state, "game": state.game, "messages": conversation(state.game), "values": values,
            "errors": errors or {}, "back_url": self.step_url(token, self.previous(states, step)),
        }
        return self.page(request, "rate.html", context, status)

    @staticmethod
    def previous(states: list[TranscriptState], step: Step) -> Step | None:
        """The step before ``step`` within the same transcript (for the Back link)."""
        if step.round is None:
            return Step(step.position, states[step.position - 1].game.n_rounds)
        return Step(step.position, step.round - 1) if step.round > 1 else None

    def reachable(self, token: str, states: list[TranscriptState], step: Step) -> Step:
        if not 1 <= step.position <= len(states):
            raise Refusal(404, "No such transcript", f"You have {len(states)} transcripts; there is no transcript {step.position}.",
                          back_url=f"/a/{token}")
        n_rounds = states[step.position - 1].game.n_rounds
        if step.round is not None and not 1 <= step.round <= n_rounds:
            raise Refusal(404, "No such round", f"Transcript {step.position} has {n_rounds} rounds; there is no round {step.round}.",
                          back_url=f"/a/{token}")
        if not may_open(states, step):
            raise Refusal(409, "Not yet", "Please answer the earlier questions first; the link below takes you to where you stopped.",
                          back_url=f"/a/{token}")
        return step

    # -- submissions -----------------------------------------------------------------------

    def owned_state(self, token: str, states: list[TranscriptState], game_id: str) -> TranscriptState:
        for state in states:
            if state.game.game_id == game_id:
                return state
        raise Refusal(403, "Not your transcript",
                      "This transcript is not assigned to you, so you cannot answer it. You can only answer your own transcripts.",
                      back_url=f"/a/{token}")

    def save_answer(self, token: str, data: dict[str, Any]) -> tuple[Annotator, str]:
        """Validate and store one round's answers; returns the URL of the next step."""
        annotator = self.annotator(token)
        states = self.states(annotator)
        form = parse_round_form(data)
        state = self.owned_state(token, states, form.game_id)
        step = self.reachable(token, states, Step(state.position, form.round))
        self.store.save_round_answer(RoundAnswer(annotator.id, form.game_id, form.round, form.direction_ok, form.proportion, form.explanation))
        log.info("%s answered %s round %d", annotator.label, form.game_id, form.round)
        fresh = self.states(annotator)
        return annotator, self.step_url(token, step_after(fresh, step))

    def save_rating(self, token: str, data: dict[str, Any]) -> tuple[Annotator, str]:
        annotator = self.annotator(token)
        states = self.states(annotator)
        form = parse_rating_form(data)
        state = self.owned_state(token, states, form.game_id)
        step = self.reachable(token, states, Step(state.position, None))
        self.store.save_rating(Rating(annotator.id, form.game_id, form.quality, form.confidence))
        log.info("%s rated %s", annotator.label, form.game_id)
        fresh = self.states(annotator)
        following = step_after(fresh, step)
        # After the last rating, resume lands on any step still open (or on the thank-you page).
        return annotator, self.step_url(token, following if following and may_open(fresh, following) else next_step(fresh))

    def check_admin(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("x-admin-token", "")
        if not self.store.check_admin_token(token):
            raise Refusal(401, "Admin token required", "The export needs the admin token: send 'Authorization: Bearer <token>'.")


def _refusal_response(study: Study, request: Request, exc: Refusal) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if _wants_json(request) or request.url.path.startswith("/admin/"):
        return JSONResponse({"error": exc.message, "title": exc.title, "fields": exc.fields}, exc.status, headers=headers)
    context = {"title": exc.title, "message": exc.message, "fields": exc.fields, "back_url": exc.back_url, "status": exc.status}
    return study.page(request, "error.html", context, exc.status)


def _form_values(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    return {n: data[n] if isinstance(data.get(n), str) else str(data.get(n) or "") for n in names}


def _rerender(study: Study, request: Request, token: str, data: dict[str, Any], error: FormError, rating: bool) -> Response:
    """Show the same page again with the annotator's entries and the problems marked,
    when the submission names one of their own steps; otherwise a plain refusal."""
    if _wants_json(request):
        raise Refusal(422, "Please check your answers", str(error), error.fields)
    annotator = study.annotator(token)
    states = study.states(annotator)
    if "game_id" in error.fields:
        raise Refusal(422, "Please check your answers", str(error), error.fields, back_url=f"/a/{token}")
    # Someone else's transcript is refused as such, whatever else is wrong with the form.
    state = study.owned_state(token, states, str(data.get("game_id")))
    if rating:
        values = _form_values(data, ("quality", "confidence"))
        return study.rate_page(request, token, state.position, values, error.fields, status=422)
    number = str(data.get("round", ""))
    if "round" in error.fields or not number.isdigit():
        raise Refusal(422, "Please check your answers", str(error), error.fields, back_url=f"/a/{token}")
    values = _form_values(data, ("direction", "proportion", "explanation"))
    return study.round_page(request, token, state.position, int(number), values, error.fields, status=422)


def _saved_response(request: Request, next_url: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"status": "saved", "next": next_url})
    # Post/Redirect/Get: reloading the next page never re-submits the form.
    return RedirectResponse(next_url, status_code=303)


def _add_routes(app: FastAPI, study: Study) -> None:
    @app.get("/", response_class=HTMLResponse)
    def landing(request: Request) -> Response:
        return study.page(request, "landing.html", {})

    @app.get("/a/{token}")
    def resume(token: str) -> Response:
        states = study.states(study.annotator(token))
        return RedirectResponse(study.step_url(token, next_step(states)), status_code=303)

    @app.get("/a/{token}/t/{position}/round/{number}", response_class=HTMLResponse)
    def round_get(request: Request, token: str, position: int, number: int) -> Response:
        return study.round_page(request, token, position, number)

    @app.get("/a/{token}/t/{position}/rate", response_class=HTMLResponse)
    def rate_get(request: Request, token: str, position: int) -> Response:
        return study.rate_page(request, token, position)

    @app.get("/a/{token}/done", response_class=HTMLResponse)
    def done(request: Request, token: str) -> Response:
        annotator = study.annotator(token)
        states = study.states(annotator)
        resume_step = next_step(states)
        context = study.common(token, annotator, states, None) | {
            "finished": resume_step is None, "resume_url": study.step_url(token, resume_step),
            "completion_url": study.config.completion_url,
        }
        return study.page(request, "done.html", context)

    @app.post("/a/{token}/answer")
    def answer_post(request: Request, token: str, data: Annotated[dict[str, Any], Depends(form_data)]) -> Response:
        try:
            _, next_url = study.save_answer(token, data)
        except FormError as exc:
            return _rerender(study, request, token, data, exc, rating=False)
        return _saved_response(request, next_url)

    @app.post("/a/{token}/rating")
    def rating_post(request: Request, token: str, data: Annotated[dict[str, Any], Depends(form_data)]) -> Response:
        try:
            _, next_url = study.save_rating(token, data)
        except FormError as exc:
            return _rerender(study, request, token, data, exc, rating=True)
        return _saved_response(request, next_url)

    exports: dict[str, tuple[str, Callable[[list[Any]], str]]] = {
        "answers.csv": ("text/csv; charset=utf-8", answers_csv),
        "transcripts.csv": ("text/csv; charset=utf-8", transcripts_csv),
        "summary.json": ("application/json", lambda a: json.dumps(summary_dict(a), indent=2)),
        "summary.md": ("text/markdown; charset=utf-8", report_markdown),
    }

    @app.get("/admin/export/{name}")
    def export(request: Request, name: str) -> Response:
        study.check_admin(request)
        if name not in exports:
            raise Refusal(404, "No such export", f"Exports: {', '.join(exports)}.")
        media_type, render = exports[name]
        return PlainTextResponse(render(load_annotations(study.store)), media_type=media_type)


def create_app(db_path: str | Path, config: StudyConfig | None = None) -> FastAPI:
    """The web app over an initialised study database (see Store.initialize)."""
    store = Store(db_path)
    store.require()
    study = Study(store, config or StudyConfig())
    # No OpenAPI schema or docs pages: nothing is reachable beyond the routes above.
    app = FastAPI(title=study.config.title, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.study = study
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.exception_handler(Refusal)
    async def refused(request: Request, exc: Refusal) -> Response:
        return _refusal_response(study, request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Unknown pages and wrong methods get the study's readable page, not bare JSON.
        if exc.status_code == 404:
            return _refusal_response(study, request, _NOT_FOUND)
        return _refusal_response(study, request, Refusal(exc.status_code, "Error", str(exc.detail)))

    @app.exception_handler(RequestValidationError)
    async def bad_path(request: Request, exc: RequestValidationError) -> Response:
        return _refusal_response(study, request, _NOT_FOUND)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    _add_routes(app, study)
    return app
