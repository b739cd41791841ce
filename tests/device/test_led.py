"""Tests of device.led: the LED patterns and backends."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from gpiod.line import Direction, Value

from device.led import LedConfig, StatusLed, led_pattern
from tests.device.fakes import FakeRequest, wait_until

# --- led_pattern ---------------------------------------------------------------------------------


def duty(state: str, step_s: float = 0.001) -> tuple[float, int]:
    """-> (fraction on, number of off->on switches) over one second sampled every step_s."""
    samples = [led_pattern(state, k * step_s) for k in range(round(1.0 / step_s))]
    rises = sum(1 for a, b in zip(samples, samples[1:], strict=False) if b and not a)
    return sum(samples) / len(samples), rises + (1 if samples[0] else 0)


@pytest.mark.parametrize(
    ("state", "on_fraction", "flashes"),
    [
        ("idle", 1.0, 1),
        ("starting", 0.5, 4),
        ("scanning", 0.5, 1),
        ("stopping", 0.2, 2),
        ("processing", 0.2, 2),
        ("error", 0.5, 8),
        ("no-such-state", 0.0, 0),
    ],
)
def test_led_pattern_duty_cycles(state: str, on_fraction: float, flashes: int) -> None:
    fraction, n = duty(state)
    assert fraction == pytest.approx(on_fraction, abs=0.01)
    assert n == flashes


def test_led_patterns_start_on_and_repeat_each_second() -> None:
    for state in ("idle", "starting", "scanning", "stopping", "processing", "error"):
        assert led_pattern(state, 0.0)  # a new state shows at once
        for k in range(100):
            t = k * 0.0137
            assert led_pattern(state, t) == led_pattern(state, t + 3.0)


def test_double_blink_shape() -> None:
    on = [t for t in range(1000) if led_pattern("processing", t / 1000)]
    assert on == list(range(0, 100)) + list(range(200, 300))


def test_led_pattern_accepts_state_enum() -> None:
    from device.state import State

    assert led_pattern(State.idle, 0.7) and not led_pattern(State.scanning, 0.7)


# --- StatusLed -----------------------------------------------------------------------------------


def make_sysfs_led(
    root: Path, name: str = "scanner:status", max_brightness: str | None = None
) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "brightness").write_text("0\n")
    (d / "trigger").write_text("[heartbeat] none\n")
    if max_brightness is not None:
        (d / "max_brightness").write_text(max_brightness + "\n")
    return d


def test_sysfs_led_follows_the_state(tmp_path: Path) -> None:
    d = make_sysfs_led(tmp_path)
    led = StatusLed(LedConfig(kind="sysfs"), sysfs_root=tmp_path)
    brightness = d / "brightness"
    with led:
        assert led.backend == "sysfs" and led.error is None
        assert (d / "trigger").read_text() == "none"  # the kernel trigger let go
        led.set_state("idle")
        assert wait_until(lambda: brightness.read_text() == "1")
        assert led.value
        led.set_state("scanning")  # on for 0.5 s, then off
        assert wait_until(lambda: brightness.read_text() == "0", timeout_s=1.5)
        assert not led.value
        assert led.state == "scanning"
    assert brightness.read_text() == "0"  # stop() turns it off
    assert not led.value


def test_sysfs_led_uses_max_brightness(tmp_path: Path) -> None:
    d = make_sysfs_led(tmp_path, name="green", max_brightness="255")
    with StatusLed(LedConfig(kind="sysfs", sysfs_name="green"), sysfs_root=tmp_path) as led:
        led.set_state("idle")
        assert wait_until(lambda: (d / "brightness").read_text() == "255")


def test_missing_sysfs_led_degrades_to_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    led = StatusLed(LedConfig(kind="sysfs", sysfs_name="absent"), sysfs_root=tmp_path)
    with caplog.at_level(logging.ERROR, logger="device.led"):
        led.start()
    try:
        assert led.backend == "none" and led.error is not None and "absent" in led.error
        led.set_state("idle")
        assert wait_until(lambda: led.value)  # still remembers what it would show
    finally:
        led.stop()
    assert caplog.text.count("going on without a status LED") == 1


def test_unopenable_gpio_led_degrades_to_none(tmp_path: Path) -> None:
    led = StatusLed(LedConfig(kind="gpio", chip=str(tmp_path / "gpiochip7")))
    led.start()  # never raises
    try:
        assert led.backend == "none"
        assert led.error is not None and "gpiochip7" in led.error
        led.set_state("error")
        assert wait_until(lambda: led.value)
    finally:
        led.stop()


def test_led_write_failure_degrades_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    d = make_sysfs_led(tmp_path)
    led = StatusLed(LedConfig(kind="sysfs"), sysfs_root=tmp_path)
    led.set_state("error")  # toggles at 8 Hz: many writes
    with caplog.at_level(logging.ERROR, logger="device.led"):
        led.start()
        dangling = tmp_path / "dangling"
        dangling.symlink_to(tmp_path / "gone" / "brightness")
        dangling.replace(d / "brightness")  # writing it now fails
        assert wait_until(lambda: led.backend == "none")
        time.sleep(0.2)
        led.stop()
    assert caplog.text.count("going on without a status LED") == 1


def test_none_led_remembers_its_value() -> None:
    with StatusLed(LedConfig()) as led:
        assert led.backend == "none"
        led.set_state("idle")
        assert wait_until(lambda: led.value)
        led.set_state("bogus")
        assert wait_until(lambda: not led.value)


def test_gpio_led_drives_the_line(fake_gpiod: list[FakeRequest]) -> None:
    led = StatusLed(LedConfig(kind="gpio", chip="/dev/gpiochip1", line=27, active_low=True))
    with led:
        (req,) = fake_gpiod
        settings = req.config[27]
        assert settings.direction == Direction.OUTPUT and settings.active_low is True
        assert settings.output_value == Value.INACTIVE
        led.set_state("idle")
        assert wait_until(lambda: (27, Value.ACTIVE) in req.values)
    assert req.values[-1] == (27, Value.INACTIVE) and req.released
