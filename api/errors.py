"""The device's errors as HTTP answers, in one table: a router calls the daemon and lets its
typed errors through; the app answers each with its status and the error's own words as
`{"detail": ...}` (FastAPI's shape). A router catches an error itself only to say more."""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from device.daemon import MarkError, MarkNameTakenError, NotFoundError
from device.georef import GeorefError
from device.jobs import ScanBusyError
from device.site import SiteError
from device.state import TransitionError
from device.storage import StorageFullError

STATUS_OF: dict[type[Exception], int] = {  # the most derived class that matches answers
    NotFoundError: status.HTTP_404_NOT_FOUND,
    ScanBusyError: status.HTTP_409_CONFLICT,  # recording, being processed, in another job
    TransitionError: status.HTTP_409_CONFLICT,  # not in a state that allows it
    MarkNameTakenError: status.HTTP_409_CONFLICT,
    MarkError: status.HTTP_422_UNPROCESSABLE_ENTITY,
    GeorefError: status.HTTP_422_UNPROCESSABLE_ENTITY,
    SiteError: status.HTTP_422_UNPROCESSABLE_ENTITY,
    StorageFullError: status.HTTP_507_INSUFFICIENT_STORAGE,
}


def _answer(code: int):
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=code)

    return handler


def add_error_handlers(app: FastAPI) -> None:
    for cls, code in STATUS_OF.items():
        app.add_exception_handler(cls, _answer(code))
