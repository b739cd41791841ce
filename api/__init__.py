"""The HTTP API: a thin FastAPI layer over the daemon (device/), reaching nothing below it.

`app.create_app` builds the app (nothing at import time); one router per resource in routers/;
pydantic schemas at the edge (schemas.py) that validate the daemon's typed reports; the bearer
token check (deps.py); uvicorn on a pre-bound socket with the systemd watchdog (server.py); the
web UI with its live 3D view and splat viewer (static/).
"""
