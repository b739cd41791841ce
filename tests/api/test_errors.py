"""api/errors.py: each of the device's error types answered with its status, in its words."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.errors import STATUS_OF, add_error_handlers
from device.daemon import MarkError, MarkNameTakenError, NotFoundError
from device.state import State, TransitionError
from device.storage import StorageFullError


def _raising(exc: Exception) -> TestClient:
    app = FastAPI()
    add_error_handlers(app)

    @app.get("/")
    def boom() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("exc", "code", "detail"),
    [
        (NotFoundError("scan", "x"), 404, "no such scan: x"),
        (TransitionError(State.idle, State.stopping), 409, "cannot go from"),
        (MarkNameTakenError("CP1 is taken"), 409, "CP1 is taken"),  # before MarkError's 422
        (MarkError("a bad name"), 422, "a bad name"),
        (StorageFullError("12 MB free"), 507, "12 MB free"),
    ],
)
def test_each_error_has_its_status_and_says_what_happened(exc, code, detail):
    r = _raising(exc).get("/")
    assert r.status_code == code and r.json()["detail"].startswith(detail)


def test_anything_else_is_a_500_not_a_leaked_message():
    r = _raising(RuntimeError("secret internals")).get("/")
    assert r.status_code == 500 and "secret" not in r.text
    assert RuntimeError not in STATUS_OF
