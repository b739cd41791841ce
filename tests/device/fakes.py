"""Test doubles for device.button and device.led: a button line fed by hand, a stand-in for
gpiod's line requests, and a polling wait for what their threads do."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import gpiod
from gpiod.line import Value


def wait_until(cond: Callable[[], bool], timeout_s: float = 2.0) -> bool:
    """Poll `cond` until it holds or `timeout_s` passes -> whether it held."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


class FakeLine:
    """A LineSource (device.button) fed by hand.

    `push(pressed, t_ns)` queues one raw edge (default time: now, on `time.monotonic_ns()`, the
    clock Button polls with). `press(duration_s)` queues a whole press starting now: a long one
    (duration at least long_press_s) is reported as soon as the Button reads it; a short one when
    its release has outlasted the debounce, about `duration_s + debounce_ms` from now.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._events: deque[tuple[bool, int]] = deque()
        self.closed = False

    def push(self, pressed: bool, t_ns: int | None = None) -> None:
        with self._cond:
            self._events.append((bool(pressed), time.monotonic_ns() if t_ns is None else t_ns))
            self._cond.notify_all()

    def press(self, duration_s: float = 0.1) -> None:
        t0 = time.monotonic_ns()
        with self._cond:
            self._events.append((True, t0))
            self._events.append((False, t0 + round(duration_s * 1e9)))
            self._cond.notify_all()

    def hold(self) -> None:
        """Push the button down now (and keep it there until `release`)."""
        self.push(True)

    def release(self) -> None:
        self.push(False)

    def wait(self, timeout_s: float) -> list[tuple[bool, int]]:
        with self._cond:
            if not self._events and not self.closed:
                self._cond.wait(max(0.0, timeout_s))
            events = list(self._events)
            self._events.clear()
            return events

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class FakeRequest:
    """Stands in for gpiod's LineRequest: records the request, serves real EdgeEvents."""

    def __init__(self, path: str, config: dict[Any, Any], consumer: str | None) -> None:
        self.path, self.config, self.consumer = path, config, consumer
        self.events: list[gpiod.EdgeEvent] = []
        self.values: list[tuple[int, Value]] = []
        self.released = False

    def wait_edge_events(self, timeout: Any) -> bool:
        return bool(self.events)

    def read_edge_events(self, max_events: int | None = None) -> list[gpiod.EdgeEvent]:
        events, self.events = self.events, []
        return events

    def set_value(self, line: int, value: Value) -> None:
        self.values.append((line, value))

    def release(self) -> None:
        self.released = True
