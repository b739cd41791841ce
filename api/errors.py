"""The device's errors as HTTP answers, in one table: a router calls the daemon and lets its
typed errors through; the app answers each with its status and the error's own words as
`{"detail": ...}` (FastAPI's shape). A router catches an error itself only to say more."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from device.daemon import MarkError, MarkNameTakenError, NotFoundError
from device.georef import GeorefError
from device.jobs import ScanBusyError
from device.site import SiteError
from device.state import TransitionError
from device.storage import StorageFullError

STATUS_OF: dict[type[Exception], int] = {  # the most derived class that matches answers
    NotFoundError: HTTPStatus.NOT_FOUND,
    ScanBusyError: HTTPStatus.CONFLICT,  # recording, being processed, in another job
    TransitionError: HTTPStatus.CONFLICT,  # not in a state that allows it
    MarkNameTakenError: HTTPStatus.CONFLICT,
    MarkError: HTTPStatus.UNPROCESSABLE_ENTITY,
    GeorefError: HTTPStatus.UNPROCESSABLE_ENTITY,
    SiteError: HTTPStatus.UNPROCESSABLE_ENTITY,
    StorageFullError: HTTPStatus.INSUFFICIENT_STORAGE,
}


def _answer(code: int):
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=int(code))

    return handler


def add_error_handlers(app: FastAPI) -> None:
    for cls, code in STATUS_OF.items():
        app.add_exception_handler(cls, _answer(code))
