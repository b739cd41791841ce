"""Fixtures of the device tests: gpiod's line requests faked (tests/device/fakes.py)."""

from __future__ import annotations

from typing import Any

import gpiod
import pytest

from tests.device.fakes import FakeRequest


@pytest.fixture
def fake_gpiod(monkeypatch: pytest.MonkeyPatch) -> list[FakeRequest]:
    requests: list[FakeRequest] = []

    def request_lines(
        path: str, config: dict[Any, Any], consumer: str | None = None, **_: Any
    ) -> FakeRequest:
        for settings in config.values():
            assert isinstance(settings, gpiod.LineSettings)
        requests.append(FakeRequest(path, config, consumer))
        return requests[-1]

    monkeypatch.setattr(gpiod, "request_lines", request_lines)
    return requests
