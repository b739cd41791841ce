"""The scanner's one hardware button (its status LED is in device/led.py).

One push button on a GPIO line (by default to ground, with the line's pull-up: `active_low`).
This module only *reports* presses; the daemon decides what they do:

* **short press** (released before `long_press_s`): start a scan when idle, stop it when
  scanning, acknowledge an error (error -> idle).
* **double press** (a second press begun within `double_press_s` of the first's release):
  mark a point while scanning (a control point, under the handle's tip). So that a double
  press never stops the scan, a short press is reported when that window has passed with no
  second press (`double_press_s` 0: at once, and no double presses).
* **long press** (held for `long_press_s`, 3 s by default): safe shutdown. The daemon stops any
  scan cleanly (the recording is closed), then powers the device off through its configured
  command (`systemctl poweroff`, allowed to the `scanner` user by the polkit rule in
  `systemd/50-scanner-poweroff.rules`). The long press is reported the moment the hold reaches
  `long_press_s`, so the user can let go when the LED changes; its release reports nothing.

Contacts bounce: a level counts only once it has held for `debounce_ms` (the kernel is asked to
debounce too, where the GPIO chip can). A 10 ms glitch is no press. A button already held when
the daemon starts is ignored until it is released and pressed again.

`PressDetector` is the pure logic (raw levels and times in, presses out); `Button` runs it on a
thread fed by a `LineSource`: `GpiodLine` for the real line (libgpiod v2 through the `gpiod`
package), or a fake line that tests feed by hand.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

POLL_S = 0.05  # how often a held button is looked at, with no edges, for the long press
RETRY_S = 1.0  # after a failed read of the button's line


class ButtonConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(False, description="read a hardware button on a GPIO line")
    chip: str = Field("/dev/gpiochip0", description="the GPIO chip's character device")
    line: int = Field(17, ge=0, description="the button's line offset on that chip")
    active_low: bool = Field(
        True, description="pressed reads low (button to ground, pull-up); false: to 3V3, pull-down"
    )
    debounce_ms: float = Field(
        30.0, ge=0.0, le=1000.0, description="a level must hold this long before it counts"
    )
    long_press_s: float = Field(
        3.0, gt=0.0, description="a press held this long is a long press (safe shutdown)"
    )
    double_press_s: float = Field(
        0.4,
        ge=0.0,
        le=2.0,
        description="a second press begun this soon after a release is a double press (a mark); "
        "a short press waits this long. 0: no double presses",
    )


class Press(StrEnum):
    short = "short"
    long = "long"
    double = "double"


# --- press detection -----------------------------------------------------------------------------


class PressDetector:
    """Debounces raw button levels and classifies presses. Pure: no clock, no hardware.

    `feed(pressed, t_ns)` takes each raw level change (or sample) with its time; `poll(t_ns)`
    moves time on without one, so that a held button turns into `Press.long` at the moment the
    hold reaches `long_press_ns`. Times are in one monotonic clock (gpiod's edge timestamps are
    CLOCK_MONOTONIC, like `time.monotonic_ns()`); a time earlier than one already seen counts as
    that one. Each call returns at most one press; a rare second one waits for the next call.
    """

    def __init__(self, debounce_ns: int, long_press_ns: int, double_press_ns: int = 0) -> None:
        if debounce_ns < 0 or long_press_ns <= 0 or double_press_ns < 0:
            raise ValueError("debounce_ns, double_press_ns must be >= 0 and long_press_ns > 0")
        self.debounce_ns = int(debounce_ns)
        self.long_press_ns = int(long_press_ns)
        self.double_press_ns = int(double_press_ns)
        self._first_release: int | None = None  # a short press waiting for a second one
        self._raw = False  # the last raw level seen
        self._raw_since = 0  # when the raw level last changed
        self._stable = False  # the debounced level
        self._pressed_at = 0  # when the current (debounced) press began
        self._long_fired = False
        self._last_t: int | None = None
        self._out: deque[Press] = deque()

    @classmethod
    def from_config(cls, config: ButtonConfig) -> PressDetector:
        return cls(
            round(config.debounce_ms * 1e6),
            round(config.long_press_s * 1e9),
            round(config.double_press_s * 1e9),
        )

    @property
    def pressed(self) -> bool:
        """The debounced level: whether the button counts as held now."""
        return self._stable

    def feed(self, pressed: bool, t_ns: int) -> Press | None:
        t = self._clock(t_ns)
        self._advance(t)
        if bool(pressed) != self._raw:
            self._raw = bool(pressed)
            self._raw_since = t
            self._advance(t)  # a zero debounce commits at once
        return self._out.popleft() if self._out else None

    def poll(self, t_ns: int) -> Press | None:
        self._advance(self._clock(t_ns))
        return self._out.popleft() if self._out else None

    def _clock(self, t_ns: int) -> int:
        t = int(t_ns)
        if self._last_t is not None and t < self._last_t:
            t = self._last_t
        self._last_t = t
        return t

    def _advance(self, t: int) -> None:
        # A raw level that has held for the debounce time becomes the stable one.
        if self._raw != self._stable and t - self._raw_since >= self.debounce_ns:
            if self._raw:  # press confirmed; it began at the raw edge
                self._stable = True
                self._pressed_at = self._raw_since
                self._long_fired = False
            else:  # release confirmed at its raw edge
                self._check_long(self._raw_since)
                if not self._long_fired:
                    self._released(self._raw_since)
                self._stable = False
        first = self._first_release
        idle = not self._raw and not self._stable
        if first is not None and idle and t - first >= self.double_press_ns:
            self._first_release = None  # no second press came: a short one
            self._out.append(Press.short)
        if self._stable:
            # Held for sure until now, or until a release edge still being debounced.
            self._check_long(t if self._raw else self._raw_since)

    def _released(self, t: int) -> None:
        if self.double_press_ns == 0:
            self._out.append(Press.short)
        elif self._first_release is not None:
            self._first_release = None
            self._out.append(Press.double)
        else:
            self._first_release = t

    def _check_long(self, held_until: int) -> None:
        if not self._long_fired and held_until - self._pressed_at >= self.long_press_ns:
            self._long_fired = True
            if self._first_release is not None:  # a short press just before this long one
                self._first_release = None
                self._out.append(Press.short)
            self._out.append(Press.long)


# --- line sources --------------------------------------------------------------------------------


class LineSource(Protocol):
    """Where a Button's edges come from."""

    def wait(self, timeout_s: float) -> list[tuple[bool, int]]:
        """Block up to `timeout_s` for edges; return them as (pressed, t_ns), oldest first."""
        ...

    def close(self) -> None: ...


class GpiodLine:
    """The real button: one input line with edge events, through libgpiod v2 (`gpiod` 2.x).

    Opening raises (OSError, ImportError, ValueError) when the chip or line cannot be had;
    `Button.start()` catches that. The line is requested with `active_low` so that a rising
    (inactive to active) edge is a press whichever way the button is wired.
    """

    def __init__(self, config: ButtonConfig) -> None:
        import gpiod  # optional at import time: only the real hardware needs it
        from gpiod.line import Bias, Clock, Direction, Edge

        self._offset = config.line
        self._rising = gpiod.EdgeEvent.Type.RISING_EDGE
        settings = gpiod.LineSettings(
            direction=Direction.INPUT,
            edge_detection=Edge.BOTH,
            bias=Bias.PULL_UP if config.active_low else Bias.PULL_DOWN,
            active_low=config.active_low,
            debounce_period=timedelta(milliseconds=config.debounce_ms),
            event_clock=Clock.MONOTONIC,  # the clock of time.monotonic_ns(), which polls
        )
        self._request: Any = gpiod.request_lines(
            config.chip, consumer="scanner", config={config.line: settings}
        )

    def wait(self, timeout_s: float) -> list[tuple[bool, int]]:
        if not self._request.wait_edge_events(timedelta(seconds=max(0.0, timeout_s))):
            return []
        return [
            (event.event_type == self._rising, int(event.timestamp_ns))
            for event in self._request.read_edge_events()
            if event.line_offset == self._offset
        ]

    def close(self) -> None:
        try:
            self._request.release()
        except Exception as exc:  # already released, or the chip went away
            log.debug("button line release: %s", exc)


# --- the button ----------------------------------------------------------------------------------


class Button:
    """Watches the button on a daemon thread and calls `on_press(Press)` for each press.

    `on_press` runs on the button's thread: keep it short (or hand work to another thread); an
    exception in it is logged and the button goes on. With `line` None, `start()` opens the GPIO
    line of `config` when `config.enabled`, and does nothing otherwise; a given `line` (a
    test's fake) is used whatever `enabled` says. `start()` never raises: a line that cannot be
    opened is logged and left in `error`, and the daemon runs without a button.
    """

    def __init__(
        self,
        config: ButtonConfig,
        on_press: Callable[[Press], object],
        line: LineSource | None = None,
    ) -> None:
        self.config = config
        self._on_press = on_press
        self._line = line
        self._owns_line = line is None  # a GpiodLine opened by start() is closed by the thread
        self._detector = PressDetector.from_config(config)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            return
        if self._line is None:
            if not self.config.enabled:
                log.info("button: disabled in the config")
                return
            try:
                self._line = GpiodLine(self.config)
            except Exception as exc:  # OSError: no chip or busy line; ImportError: no gpiod
                self.error = (
                    f"cannot open button line {self.config.line} on {self.config.chip}: {exc}"
                )
                log.error("button: %s; going on without a button", self.error)
                return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="button", daemon=True)
        self._thread.start()
        log.info("button: watching %s", self._describe())

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                log.warning("button: thread still busy in a callback; it closes the line later")

    def __enter__(self) -> Button:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _describe(self) -> str:
        if isinstance(self._line, GpiodLine):
            return f"{self.config.chip} line {self.config.line}"
        return type(self._line).__name__

    def _run(self) -> None:
        line = self._line
        assert line is not None
        try:
            while not self._stop.is_set():
                try:
                    events = line.wait(POLL_S)
                except Exception:
                    log.exception("button: reading the line failed")
                    self._stop.wait(RETRY_S)
                    continue
                for pressed, t_ns in events:
                    self._emit(self._detector.feed(pressed, t_ns))
                now = time.monotonic_ns()
                while (press := self._detector.poll(now)) is not None:
                    self._emit(press)
        finally:
            try:
                line.close()
            except Exception:
                log.exception("button: closing the line failed")
            if self._owns_line and self._line is line:
                self._line = None  # a later start() opens it again

    def _emit(self, press: Press | None) -> None:
        if press is None or self._stop.is_set():
            return
        log.info("button: %s press", press)
        try:
            self._on_press(press)
        except Exception:
            log.exception("button: the %s-press handler failed", press)
