"""The scanner's one hardware button and its status LED.

The button
----------
One push button on a GPIO line (by default to ground, with the line's pull-up: `active_low`).
This module only *reports* presses; the daemon decides what they do:

* **short press** (released before `long_press_s`): start a scan when idle, stop it when
  scanning, acknowledge an error (error -> idle).
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
package) or `FakeLine` for tests and simulated presses.

The LED
-------
`StatusLed` shows the daemon's state; `led_pattern` is the pure on/off function of the state
and of the time since the state was entered:

    idle                  on, steady
    starting              fast blink, 4 Hz
    scanning              1 Hz blink, 50 % on
    stopping, processing  double blink: two 100 ms flashes each second
    error                 rapid flash, 8 Hz
    anything else         off

Backends: "none" (remembers the value only, `led.value`), "gpio" (a gpiod output line) and
"sysfs" (`/sys/class/leds/NAME/brightness`). An LED that cannot be opened or written logs once
and carries on as "none"; nothing here raises into the daemon.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

POLL_S = 0.05  # how often a held button is looked at, with no edges, for the long press
LED_TICK_S = 0.02  # the LED thread's step: fine enough for the 8 Hz flash
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


class LedConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["none", "gpio", "sysfs"] = Field(
        "none", description="none: no LED; gpio: a GPIO output line; sysfs: a kernel LED"
    )
    chip: str = Field("/dev/gpiochip0", description="gpio: the GPIO chip's character device")
    line: int = Field(27, ge=0, description="gpio: the LED's line offset on that chip")
    active_low: bool = Field(False, description="gpio: the LED lights when the line is low")
    sysfs_name: str = Field(
        "scanner:status",
        pattern=r"^[^/]+$",
        description="sysfs: the LED under /sys/class/leds/NAME/brightness",
    )


class Press(StrEnum):
    short = "short"
    long = "long"


# --- press detection -----------------------------------------------------------------------------


class PressDetector:
    """Debounces raw button levels and classifies presses. Pure: no clock, no hardware.

    `feed(pressed, t_ns)` takes each raw level change (or sample) with its time; `poll(t_ns)`
    moves time on without one, so that a held button turns into `Press.long` at the moment the
    hold reaches `long_press_ns`. Times are in one monotonic clock (gpiod's edge timestamps are
    CLOCK_MONOTONIC, like `time.monotonic_ns()`); a time earlier than one already seen counts as
    that one. Each call returns at most one press; a rare second one waits for the next call.
    """

    def __init__(self, debounce_ns: int, long_press_ns: int) -> None:
        if debounce_ns < 0 or long_press_ns <= 0:
            raise ValueError("debounce_ns must be >= 0 and long_press_ns > 0")
        self.debounce_ns = int(debounce_ns)
        self.long_press_ns = int(long_press_ns)
        self._raw = False  # the last raw level seen
        self._raw_since = 0  # when the raw level last changed
        self._stable = False  # the debounced level
        self._pressed_at = 0  # when the current (debounced) press began
        self._long_fired = False
        self._last_t: int | None = None
        self._out: deque[Press] = deque()

    @classmethod
    def from_config(cls, config: ButtonConfig) -> PressDetector:
        return cls(round(config.debounce_ms * 1e6), round(config.long_press_s * 1e9))

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
                    self._out.append(Press.short)
                self._stable = False
                return
        if self._stable:
            # Held for sure until now, or until a release edge still being debounced.
            self._check_long(t if self._raw else self._raw_since)

    def _check_long(self, held_until: int) -> None:
        if not self._long_fired and held_until - self._pressed_at >= self.long_press_ns:
            self._long_fired = True
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


class FakeLine:
    """A LineSource fed by hand: tests, and simulated presses (`POST /api/v1/button`).

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


# --- the button ----------------------------------------------------------------------------------


class Button:
    """Watches the button on a daemon thread and calls `on_press(Press)` for each press.

    `on_press` runs on the button's thread: keep it short (or hand work to another thread); an
    exception in it is logged and the button goes on. With `line` None, `start()` opens the GPIO
    line of `config` when `config.enabled`, and does nothing otherwise; a given `line` (a
    FakeLine) is used whatever `enabled` says. `start()` never raises: a line that cannot be
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


# --- the status LED ------------------------------------------------------------------------------


def led_pattern(state: str, t_s: float) -> bool:
    """Whether the LED is on, `t_s` seconds after `state` was entered."""
    if state == "idle":
        return True
    if state == "starting":  # 4 Hz, half on
        return (t_s % 0.25) < 0.125
    if state == "scanning":  # 1 Hz, half on
        return (t_s % 1.0) < 0.5
    if state in ("stopping", "processing"):  # two 100 ms flashes each second
        phase = t_s % 1.0
        return phase < 0.1 or 0.2 <= phase < 0.3
    if state == "error":  # 8 Hz, half on
        return (t_s % 0.125) < 0.0625
    return False


class _LedBackend(Protocol):
    def write(self, on: bool) -> None: ...

    def close(self) -> None: ...


class _NoLed:
    def write(self, on: bool) -> None:
        pass

    def close(self) -> None:
        pass


class _GpioLed:
    def __init__(self, config: LedConfig) -> None:
        import gpiod
        from gpiod.line import Direction, Value

        self._offset = config.line
        self._on, self._off = Value.ACTIVE, Value.INACTIVE
        settings = gpiod.LineSettings(
            direction=Direction.OUTPUT, active_low=config.active_low, output_value=Value.INACTIVE
        )
        self._request: Any = gpiod.request_lines(
            config.chip, consumer="scanner-led", config={config.line: settings}
        )

    def write(self, on: bool) -> None:
        self._request.set_value(self._offset, self._on if on else self._off)

    def close(self) -> None:
        try:
            self._request.set_value(self._offset, self._off)
        finally:
            self._request.release()


class _SysfsLed:
    def __init__(self, directory: Path) -> None:
        self._brightness = directory / "brightness"
        if not self._brightness.is_file():
            raise FileNotFoundError(f"no LED at {self._brightness}")
        self._full = "1"
        max_path = directory / "max_brightness"
        if max_path.is_file():
            text = max_path.read_text().strip()
            if text.isdigit() and int(text) > 0:
                self._full = text
        trigger = directory / "trigger"
        if trigger.is_file():  # a kernel trigger (heartbeat, mmc0, ...) would fight us
            try:
                trigger.write_text("none")
            except OSError as exc:
                log.debug("led: cannot clear %s: %s", trigger, exc)
        self.write(False)  # proves the file is writable now, not at the first blink

    def write(self, on: bool) -> None:
        self._brightness.write_text(self._full if on else "0")

    def close(self) -> None:
        self.write(False)


class StatusLed:
    """Shows the daemon's state on an LED, from a daemon thread. Never raises into the daemon.

    `set_state(state)` may be called at any time, before `start()` too (a `State` works, being a
    str); the pattern restarts at each change, so a new state shows at once. `value` is the
    level last driven, whatever the backend; `backend` is the one in use ("none" after a
    failure, described in `error`). `stop()` turns the LED off and releases it.
    """

    def __init__(self, config: LedConfig, sysfs_root: Path = Path("/sys/class/leds")) -> None:
        self.config = config
        self.sysfs_root = Path(sysfs_root)
        self.value = False
        self.error: str | None = None
        self.backend: str = "none"
        self._out: _LedBackend = _NoLed()
        self._written = False  # whether `value` has reached the backend yet
        self._lock = threading.Lock()
        self._state = "idle"
        self._since = time.monotonic()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> str:
        return self._state

    def set_state(self, state: str) -> None:
        with self._lock:
            if state != self._state:
                self._state = str(state)
                self._since = time.monotonic()
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._open()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="status-led", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout_s)
        with self._lock:
            self.value = False
            try:
                self._out.close()
            except Exception as exc:
                log.debug("led: closing: %s", exc)
            self._out = _NoLed()

    def __enter__(self) -> StatusLed:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _open(self) -> None:
        kind = self.config.kind
        try:
            if kind == "gpio":
                self._out = _GpioLed(self.config)
            elif kind == "sysfs":
                self._out = _SysfsLed(self.sysfs_root / self.config.sysfs_name)
            else:
                self._out = _NoLed()
            self.backend = kind
            self._written = False
        except Exception as exc:  # OSError, ImportError, ValueError: carry on without one
            self._degrade(f"cannot open the {kind} LED {self._describe()}: {exc}")

    def _describe(self) -> str:
        if self.config.kind == "gpio":
            return f"(line {self.config.line} on {self.config.chip})"
        if self.config.kind == "sysfs":
            return f"({self.sysfs_root / self.config.sysfs_name})"
        return ""

    def _degrade(self, why: str) -> None:
        self.error = why
        log.error("led: %s; going on without a status LED", why)
        self._out = _NoLed()
        self.backend = "none"

    def _run(self) -> None:
        while not self._stop.is_set():
            self._apply(time.monotonic())
            self._wake.wait(LED_TICK_S)
            self._wake.clear()

    def _apply(self, now: float) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            on = led_pattern(self._state, now - self._since)
            if on == self.value and self._written:
                return
            self.value = on
            try:
                self._out.write(on)
                self._written = True
            except Exception as exc:
                self._degrade(f"cannot drive the {self.backend} LED: {exc}")
