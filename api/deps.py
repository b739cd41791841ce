"""Typed dependencies: the daemon behind the app, and the bearer-token check."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from device.daemon import Daemon

_bearer = HTTPBearer(auto_error=False, description="the device's API token")


async def get_daemon(request: Request) -> Daemon:
    return request.app.state.daemon


def token_ok(request_token: str | None, expected: str) -> bool:
    return bool(request_token) and secrets.compare_digest(request_token.encode(), expected.encode())


def _check(request: Request, given: str | None) -> None:
    """401 (counted) unless `given` is the app's token."""
    if not token_ok(given, request.app.state.token):
        request.app.state.metrics.auth_failures.inc()
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong token",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    _check(request, credentials.credentials if credentials is not None else None)


async def require_token_or_query(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[
        str | None, Query(description="for plain links, which cannot send headers")
    ] = None,
) -> None:
    """Downloads also take ?token=, so that a browser link can resume a multi-GB file."""
    _check(request, credentials.credentials if credentials is not None else token)


DaemonDep = Annotated[Daemon, Depends(get_daemon)]
