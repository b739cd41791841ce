"""The scanner's status LED: it shows the daemon's state.

`StatusLed` drives the LED from a thread; `led_pattern` is the pure on/off function of the
state and of the time since the state was entered:

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
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

LED_TICK_S = 0.02  # the LED thread's step: fine enough for the 8 Hz flash


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


# --- the pattern ---------------------------------------------------------------------------------


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


# --- backends ------------------------------------------------------------------------------------


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


# --- the LED -------------------------------------------------------------------------------------


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
