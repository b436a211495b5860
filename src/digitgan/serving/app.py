"""``digitgan serve``: a web page and an HTTP API that draw digits from trained runs.

    digitgan serve runs/00001-cdcgan runs/00002-scdcgan      # http://127.0.0.1:8000/

A thin layer: each route parses and bounds its query, calls serving/loaded.py (which calls what
``digitgan sample`` calls) and encodes the answer. Every endpoint is a GET with bounded
query parameters; a request that carries a body is refused before it is read. Bad input is
a 422 whose ``detail`` is one line a person can act on. No path is ever taken from a
request: the page and the API docs are files read once from the installed package.
"""

# (No ``from __future__ import annotations`` here: FastAPI reads each route's annotations,
# and the run parameter's enum of served names is made per app, inside create_app.)
import os
import re
from contextlib import asynccontextmanager
from enum import Enum
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, BeforeValidator

from digitgan.basics.errors import UserError
from digitgan.config.train_config import MAX_SEED
from digitgan.cyclegan.translation import MAX_TEXT
from digitgan.serving import loaded as served
from digitgan.serving.http_guards import RequestBounds, RequestLimit, guarded_protocol
from digitgan.serving.limits import (
    DEFAULT_CONNECTIONS,
    DEFAULT_IN_FLIGHT,
    HEAD_TIMEOUT,
    MAX_DIGITS_PER_REQUEST,
    MAX_HEAD_BYTES,
    MAX_WALK_STEPS,
)

PLAIN_WHOLE = re.compile(r"[0-9]{1,10}")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
PAGE_FILES = {
    "/": ("index.html", "text/html"),
    "/app.js": ("app.js", "text/javascript"),
    "/style.css": ("style.css", "text/css"),
}
PAGE_POLICY = "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; frame-ancestors 'none'"


def _plain_digits(value):
    """Whole numbers come as the ASCII digits 0-9 alone: not 3.0, +3, 1_000 or other scripts'
    digits, which Python's int() and pydantic would take."""
    if isinstance(value, str) and not PLAIN_WHOLE.fullmatch(value):
        raise ValueError("expected a whole number written with the digits 0-9")
    return value


Whole = BeforeValidator(_plain_digits)
Seed = Annotated[
    int, Query(ge=0, le=MAX_SEED, description="noise seed: the same seed gives the same bytes"), Whole
]
Pair = Annotated[
    str | None, Query(max_length=21, pattern=r"^[0-9]{1,10},[0-9]{1,10}$", description="two values: A,B")
]


PAIR_MESSAGE = "expected two whole numbers separated by a comma, such as 3,8"


class Problem(BaseModel):
    detail: str


PNG = {"content": {"image/png": {}}, "description": "a one-channel PNG"}
PROBLEMS = {422: {"model": Problem, "description": "bad input; `detail` says what to change"}}


def _one_line(exc: RequestValidationError) -> str:
    """Pydantic's list of errors as one line: ``n: Input should be ... (got '300')``."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"][1:]) or "request"
        message = PAIR_MESSAGE if error["type"] == "string_pattern_mismatch" else error["msg"]
        message = message.removeprefix("Value error, ")  # pydantic's prefix for a validator's words
        shown = error.get("input") is not None and error["type"] != "missing"
        parts.append(f"{where}: {message}" + (f" (got {str(error['input'])[:40]!r})" if shown else ""))
    return "; ".join(parts)[:500]


def _pair(text: str | None, name: str, high: int) -> tuple[int, int] | None:
    if text is None:
        return None
    pair = tuple(int(v) for v in text.split(","))
    if not all(0 <= v <= high for v in pair):
        raise UserError(f"{name}: both values must be between 0 and {high}, got {text}")
    return pair  # type: ignore[return-value]


def create_app(
    runs: dict[str, served.ServedRun], limit: int = DEFAULT_IN_FLIGHT, worker_threads: int | None = None
) -> FastAPI:
    """The FastAPI application over already-loaded runs: at most ``limit`` requests in
    flight, their drawing done on at most ``worker_threads`` threads (default: AnyIO's 40)."""
    app = FastAPI(
        title="digitgan",
        summary="Draw handwritten digits from trained GAN runs.",
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan(worker_threads),
    )
    _add_error_answers(app)
    _add_page_and_docs(app)
    app.include_router(api_routes(runs))
    _add_security_headers(app)
    app.add_middleware(RequestLimit, limit=limit)
    app.add_middleware(RequestBounds)  # the outermost: refused before they count as work
    return app


def _lifespan(worker_threads: int | None):
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if worker_threads is not None:
            # requests beyond it wait as small coroutines, not as threads each holding a
            # malloc arena with a batch of digits in it: memory stays bounded after bursts
            anyio.to_thread.current_default_thread_limiter().total_tokens = worker_threads
        yield

    return lifespan


def _add_error_answers(app: FastAPI) -> None:
    """Bad input, from pydantic or from digitgan, is a 422 whose detail is one line."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _one_line(exc)}, status_code=422)

    @app.exception_handler(UserError)
    async def _user_error(request: Request, exc: UserError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)


def _add_page_and_docs(app: FastAPI) -> None:
    """The page and Swagger UI's files, read once from the installed packages."""
    for route, (name, kind) in PAGE_FILES.items():
        body = files("digitgan.serving.web").joinpath(name).read_bytes()
        app.add_api_route(route, _static(body, kind), methods=["GET"], include_in_schema=False)
    for name, (body, kind) in _swagger_assets().items():
        app.add_api_route(f"/docs/{name}", _static(body, kind), methods=["GET"], include_in_schema=False)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="digitgan API",
            swagger_js_url="/docs/swagger-ui-bundle.js",
            swagger_css_url="/docs/swagger-ui.css",
            swagger_favicon_url="/docs/favicon-32x32.png",
        )


def _add_security_headers(app: FastAPI) -> None:
    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        if request.url.path in PAGE_FILES:
            response.headers["Content-Security-Policy"] = PAGE_POLICY
        return response


def api_routes(runs: dict[str, served.ServedRun]) -> APIRouter:
    """The API over ``runs``: the run parameter is an enum of their names in the schema, so
    an unknown run is a 422 naming the served ones."""
    names = Enum("RunName", {f"run{i}": name for i, name in enumerate(runs)}, type=str)
    run_param = Annotated[names, Query(description="a run's folder name, from /api/runs")]
    router = APIRouter()

    @router.get("/api/runs", responses=PROBLEMS)
    def list_runs() -> list[dict]:
        """Every served run: preset, kind, conditional or not, epochs, and its evaluation beside
        the real-data floor when ``digitgan evaluate`` has scored it."""
        return [run.info() for run in runs.values()]

    for add in (_generate_route, _interpolate_route, _handwrite_route):
        add(router, run_param, lambda name: runs[name.value])
    return router


def _generate_route(router: APIRouter, Run, pick) -> None:  # Run: a type, as FastAPI reads it
    @router.get(
        "/api/generate", responses={200: {"content": {"image/png": {}, "application/json": {}}}, **PROBLEMS}
    )
    def generate(
        run: Run,
        seed: Seed = 0,
        n: Annotated[
            int,
            Query(ge=1, le=MAX_DIGITS_PER_REQUEST, description="digits (per digit with per_digit)"),
            Whole,
        ] = 64,
        digit: Annotated[
            int | None, Query(ge=0, le=9, description="draw only this digit (conditional runs)"), Whole
        ] = None,
        per_digit: Annotated[
            bool, Query(description="one row of n per digit 0-9 (conditional runs)")
        ] = False,
        format: Annotated[
            Literal["png", "json"], Query(description="a PNG grid, or each digit as base64 PNG")
        ] = "png",
    ) -> Response:
        """Digits from a run's generator, exactly as ``digitgan sample RUN --n N --seed S
        [--digit D | --per-digit]`` draws them."""
        if digit is not None and per_digit:
            raise UserError("give digit or per_digit, not both")
        if per_digit and n * 10 > MAX_DIGITS_PER_REQUEST:
            raise UserError(
                f"per_digit draws 10 rows of n: n must be at most {MAX_DIGITS_PER_REQUEST // 10}, got {n}"
            )
        if format == "json":
            return JSONResponse(served.digits_json(pick(run), n, seed, digit, per_digit))
        return Response(served.grid_png(pick(run), n, seed, digit, per_digit), media_type="image/png")


def _interpolate_route(router: APIRouter, Run, pick) -> None:  # Run: a type, as FastAPI reads it
    @router.get(
        "/api/interpolate", responses={200: {"content": {"image/png": {}, "image/gif": {}}}, **PROBLEMS}
    )
    def interpolate(
        run: Run,
        seeds: Pair = None,
        digits: Pair = None,
        steps: Annotated[int, Query(ge=2, le=MAX_WALK_STEPS), Whole] = 10,
        seed: Seed = 0,
        digit: Annotated[
            int, Query(ge=0, le=9, description="the fixed digit of a seed walk (conditional)"), Whole
        ] = 0,
        format: Annotated[Literal["png", "gif"], Query(description="a one-row PNG strip, or a GIF")] = "png",
    ) -> Response:
        """A walk between two noise seeds (``seeds=A,B``) or, for conditional runs, between two
        digits (``digits=A,B``, noise of ``seed``), as ``digitgan interpolate`` draws it."""
        if seeds is not None and digits is not None:
            raise UserError("give seeds=A,B or digits=A,B, not both")
        images = served.walk(
            pick(run), steps, _pair(seeds, "seeds", MAX_SEED), _pair(digits, "digits", 9), seed, digit
        )
        return Response(served.walk_bytes(images, format == "gif"), media_type=f"image/{format}")


def _handwrite_route(router: APIRouter, Run, pick) -> None:  # Run: a type, as FastAPI reads it
    @router.get("/api/handwrite", responses={200: PNG, **PROBLEMS})
    def handwrite(
        run: Run,
        text: Annotated[str, Query(min_length=1, max_length=MAX_TEXT, description="digits and spaces")],
        seed: Seed = 0,
        compare: Annotated[bool, Query(description="the typed line above the handwritten one")] = False,
    ) -> Response:
        """A number written by hand by a cyclegan run, as ``digitgan handwrite`` writes it. The
        header ``Digitgan-Unreadable`` lists the positions of printed characters the typed-digit
        reader cannot read as digits (empty when all are digits)."""
        written = served.handwriting(pick(run), text, seed, compare)
        unreadable = ",".join(str(i) for i in written.unreadable)
        return Response(written.png, media_type="image/png", headers={"Digitgan-Unreadable": unreadable})


def _static(body: bytes, kind: str):
    def route() -> Response:
        return Response(body, media_type=kind)

    return route


def _swagger_assets() -> dict[str, tuple[bytes, str]]:
    """Swagger UI's files from the swagger-ui-bundle package, so /docs works offline."""
    from swagger_ui_bundle import swagger_ui_path

    kinds = {
        "swagger-ui-bundle.js": "text/javascript",
        "swagger-ui.css": "text/css",
        "favicon-32x32.png": "image/png",
    }
    return {name: ((Path(swagger_ui_path) / name).read_bytes(), kind) for name, kind in kinds.items()}


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def bind(host: str, port: int):
    """A listening socket, or the one-line error (port taken, unknown host) before any run loads."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it a keep-alive client waits 40 ms (Nagle + delayed ACK) for each answer
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port or --host"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run_server(
    run_dirs: list[Path],
    host: str,
    port: int,
    limit_concurrency: int,
    threads: int | None,
    max_connections: int = DEFAULT_CONNECTIONS,
) -> None:
    """Load the runs (failing at start on a damaged one), then serve until interrupted."""
    import torch
    import uvicorn

    sock = bind(host, port)
    threads = threads or cores()
    torch.set_num_threads(threads)  # one worker process: threads x workers <= cores
    runs = served.load_runs(run_dirs)
    app = create_app(runs, limit_concurrency, worker_threads=threads)
    where = sock.getsockname()
    url = f"http://{'[' + where[0] + ']' if ':' in where[0] else where[0]}:{where[1]}/"
    print(
        f"digitgan: serving {', '.join(runs)} at {url} (API docs {url}docs); {threads} torch threads, "
        f"at most {limit_concurrency} requests in flight and {max_connections} connections; Ctrl-C stops",
        flush=True,
    )
    if host not in LOOPBACK:
        print(
            f"digitgan: warning: listening on {host}, reachable from other machines; the server has no "
            "authentication",
            flush=True,
        )
    config = uvicorn.Config(
        app,
        # the caps on work and on connections are serving/http_guards.py's: uvicorn's own
        # limit_concurrency counts idle sockets as work
        http=guarded_protocol(max_connections),
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,  # request line + headers
        timeout_keep_alive=HEAD_TIMEOUT,
        log_level="warning",
        access_log=False,
    )
    uvicorn.Server(config).run(sockets=[sock])
