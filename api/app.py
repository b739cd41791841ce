"""The app factory: FastAPI over a running daemon. Nothing is built at import time.

Every route but `/`, `/api/v1/health` and the static UI needs the bearer token. Routers, one
per resource, live in api/routers/; schemas in api/schemas.py.
"""

from __future__ import annotations

import time
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from api.deps import require_token
from api.errors import add_error_handlers
from api.routers import (
    button,
    georef,
    health,
    live,
    maps,
    metrics,
    products,
    scans,
    sites,
    status,
)
from device.daemon import Daemon

STATIC_DIR = Path(__file__).resolve().parent / "static"
PREFIX = "/api/v1"


class RequestTimer:
    """Pure ASGI middleware timing each HTTP request into a Prometheus histogram. (Starlette's
    BaseHTTPMiddleware would turn every response into a stream: one more write, and on a
    kept-alive connection the client's delayed ACK then costs 40 ms per request.)"""

    def __init__(self, app, histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        code = [500]

        async def send_wrapper(message) -> None:
            if message["type"] == "http.response.start":
                code[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            self.histogram.labels(
                getattr(route, "path", "other"), scope["method"], str(code[0])
            ).observe(time.perf_counter() - t0)


def create_app(daemon: Daemon, token: str) -> FastAPI:
    if not token:
        raise ValueError("the API needs a token")
    app = FastAPI(
        title="Handheld scanner",
        version="1",
        description="Control the scanner, watch the scan live and download its products."
        " Send `Authorization: Bearer <token>` with every request but /api/v1/health.",
    )
    app.state.daemon = daemon
    app.state.token = token
    app.state.metrics = metrics.ApiMetrics(daemon)
    app.state.exiting = lambda: False  # the server replaces this: long-lived sockets end on it
    auth = [Depends(require_token)]
    app.include_router(health.router, prefix=PREFIX)
    app.include_router(status.router, prefix=PREFIX, dependencies=auth)
    app.include_router(scans.router, prefix=PREFIX, dependencies=auth)
    app.include_router(georef.router, prefix=PREFIX, dependencies=auth)
    app.include_router(products.router, prefix=PREFIX)  # header or ?token=
    app.include_router(sites.router, prefix=PREFIX, dependencies=auth)
    app.include_router(sites.downloads, prefix=PREFIX)  # header or ?token=
    app.include_router(maps.router, prefix=PREFIX)  # header or ?token=
    app.include_router(maps.making, prefix=PREFIX, dependencies=auth)
    app.include_router(button.router, prefix=PREFIX, dependencies=auth)
    app.include_router(live.router, prefix=PREFIX)  # checks the token itself
    app.include_router(metrics.router, dependencies=auth)

    add_error_handlers(app)
    app.add_middleware(RequestTimer, histogram=app.state.metrics.requests)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    return app
