"""The daemon's states and the only moves between them.

    idle -> starting -> scanning -> stopping -> processing -> idle
    any of starting, scanning, stopping, processing -> error -> idle (acknowledged)

A scan that fails to start goes to `error`; so does one whose recording breaks. The next press
of the button (or POST /button) acknowledges the error and returns to idle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum


class State(StrEnum):
    idle = "idle"
    starting = "starting"
    scanning = "scanning"
    stopping = "stopping"
    processing = "processing"
    error = "error"


ALLOWED: dict[State, frozenset[State]] = {
    State.idle: frozenset({State.starting}),
    State.starting: frozenset({State.scanning, State.error, State.idle}),
    State.scanning: frozenset({State.stopping, State.error}),
    State.stopping: frozenset({State.processing, State.idle, State.error}),
    State.processing: frozenset({State.idle, State.error}),
    State.error: frozenset({State.idle}),
}


class TransitionError(RuntimeError):
    """A move the state machine does not allow (for example, start while scanning)."""

    def __init__(self, current: State, wanted: State) -> None:
        super().__init__(f"cannot go from {current} to {wanted}")
        self.current = current
        self.wanted = wanted


class StateMachine:
    """The current state, changed atomically; listeners hear of every change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = State.idle
        self.since_monotonic = time.monotonic()
        self.error: str | None = None  # why the last move to `error` happened
        self._listeners: list[Callable[[State, State], None]] = []

    @property
    def state(self) -> State:
        return self._state

    def subscribe(self, listener: Callable[[State, State], None]) -> None:
        self._listeners.append(listener)

    def move(
        self,
        wanted: State,
        *,
        expect: State | frozenset[State] | None = None,
        error: str | None = None,
    ) -> State:
        """Go to `wanted` if allowed (and if the state is `expect`, when given) -> the old state.

        Check and move are one atomic step, so two callers racing for the same move get
        exactly one success; the other gets TransitionError."""
        with self._lock:
            old = self._state
            expected = expect if isinstance(expect, frozenset) else frozenset({expect or old})
            if old not in expected or wanted not in ALLOWED[old]:
                raise TransitionError(old, wanted)
            self._state = wanted
            self.since_monotonic = time.monotonic()
            if wanted is State.error:
                self.error = error or "unknown error"
            elif wanted is State.idle:
                self.error = None
        for listener in self._listeners:
            listener(old, wanted)
        return old
