"""Tests of device.button: press detection, the Button thread and its gpiod line."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import gpiod
import pytest
from gpiod import _ext
from gpiod.line import Bias, Direction, Edge
from pydantic import ValidationError

import device.button
from device.button import Button, ButtonConfig, GpiodLine, Press, PressDetector
from device.led import LedConfig
from tests.device.fakes import FakeLine, FakeRequest, wait_until

MS = 1_000_000  # ns
S = 1_000_000_000


def detector() -> PressDetector:
    return PressDetector(debounce_ns=30 * MS, long_press_ns=3 * S)


def run(det: PressDetector, steps: list[tuple[str, bool | None, int]]) -> list[tuple[int, Press]]:
    """Feed ("feed", level, t) and ("poll", None, t) steps; -> [(t, press)] as they came."""
    out = []
    for op, level, t in steps:
        got = det.feed(bool(level), t) if op == "feed" else det.poll(t)
        if got is not None:
            out.append((t, got))
    return out


# --- PressDetector -------------------------------------------------------------------------------


def test_clean_short_press_reports_short_once_release_is_debounced() -> None:
    det = detector()
    assert det.feed(True, 0) is None
    assert det.poll(29 * MS) is None
    assert det.poll(30 * MS) is None  # press confirmed, nothing to report yet
    assert det.pressed
    assert det.feed(False, 200 * MS) is None
    assert det.poll(229 * MS) is None  # the release is still being debounced
    assert det.poll(230 * MS) == Press.short
    assert det.poll(5 * S) is None  # once only
    assert not det.pressed


def with_double() -> PressDetector:
    return PressDetector(debounce_ns=30 * MS, long_press_ns=3 * S, double_press_ns=400 * MS)


def press_at(t0: int, held: int) -> list[tuple[str, bool | None, int]]:
    return [("feed", True, t0), ("poll", None, t0 + 40 * MS), ("feed", False, t0 + held)]


def test_two_quick_presses_are_one_double_press_and_no_short_one() -> None:
    steps = press_at(0, 150 * MS) + press_at(350 * MS, 150 * MS)  # second begins 200 ms after
    steps += [("poll", None, t * 50 * MS) for t in range(11, 40)]
    assert run(with_double(), steps) == [(550 * MS, Press.double)]  # its release, debounced


def test_a_single_press_is_short_once_the_double_press_window_has_passed() -> None:
    steps = press_at(0, 150 * MS) + [("poll", None, t * 50 * MS) for t in range(4, 20)]
    # released at 150 ms, confirmed 30 ms later; short once 400 ms have passed since 150 ms
    assert run(with_double(), steps) == [(550 * MS, Press.short)]


def test_presses_further_apart_than_the_window_are_two_short_ones() -> None:
    steps = press_at(0, 100 * MS) + press_at(800 * MS, 100 * MS)
    steps += [("poll", None, t * 100 * MS) for t in range(10, 20)]
    got = run(with_double(), steps)
    assert [p for _, p in got] == [Press.short, Press.short]
    assert got[0][0] <= 800 * MS  # the first was reported before the second began


def test_a_short_press_then_a_long_one_reports_both_in_order() -> None:
    steps = press_at(0, 100 * MS) + [("feed", True, 300 * MS)]
    steps += [("poll", None, t * 100 * MS) for t in range(4, 40)]
    assert [p for _, p in run(with_double(), steps)] == [Press.short, Press.long]


def test_the_config_sets_the_double_press_window() -> None:
    det = PressDetector.from_config(ButtonConfig(double_press_s=0.25))
    assert det.double_press_ns == 250 * MS
    with pytest.raises(ValueError):
        PressDetector(debounce_ns=0, long_press_ns=S, double_press_ns=-1)


def test_a_10ms_glitch_is_not_a_press() -> None:
    det = detector()
    steps = [("feed", True, 1 * S), ("feed", False, 1 * S + 10 * MS)]
    steps += [("poll", None, 1 * S + k * 10 * MS) for k in range(1, 600)]  # ~6 s of polling
    assert run(det, steps) == []
    assert not det.pressed


def test_bounces_shorter_than_debounce_are_ignored() -> None:
    det = detector()
    # Press: the contact chatters for 8 ms, then holds.
    steps: list[tuple[str, bool | None, int]] = [
        ("feed", lvl, t * MS)
        for t, lvl in [(0, True), (2, False), (3, True), (5, False), (8, True)]
    ]
    # Release at 500 ms, with chatter in the middle of the hold and at the release.
    steps += [("feed", False, 250 * MS), ("feed", True, 260 * MS)]  # 10 ms dropout while held
    steps += [("feed", lvl, t * MS) for t, lvl in [(500, False), (503, True), (506, False)]]
    steps += [("poll", None, t * MS) for t in range(510, 700, 10)]
    assert run(det, steps) == [(540 * MS, Press.short)]  # 30 ms after the last bounce


def test_bounces_at_press_do_not_shorten_the_hold_measure() -> None:
    det = detector()
    # Chatter for 10 ms, then held until 2.9 s: a short press. The hold is measured from the
    # edge that held (10 ms), so nothing fires at 3 s either.
    steps = [("feed", lvl, t * MS) for t, lvl in [(0, True), (4, False), (10, True)]]
    steps += [("poll", None, t * MS) for t in range(20, 2900, 50)]
    steps += [("feed", False, 2900 * MS)]
    steps += [("poll", None, t * MS) for t in range(2910, 4000, 10)]
    assert run(det, steps) == [(2930 * MS, Press.short)]


def test_long_press_fires_once_while_held_via_poll() -> None:
    det = detector()
    steps = [("feed", True, 0)] + [("poll", None, t * MS) for t in range(10, 6000, 10)]
    got = run(det, steps)
    assert got == [(3000 * MS, Press.long)]  # at the moment the hold reached 3 s
    assert det.pressed
    # ...and its release reports nothing.
    assert run(det, [("feed", False, 7 * S)] + [("poll", None, 8 * S)]) == []
    # The next press is a fresh one.
    assert run(det, [("feed", True, 9 * S), ("feed", False, 9 * S + 100 * MS)]) == []
    assert det.poll(10 * S) == Press.short


def test_long_press_is_reported_late_rather_than_never_without_polls() -> None:
    det = detector()
    assert det.feed(True, 0) is None
    assert det.feed(False, 4 * S) == Press.long  # no poll while held: caught at the next edge
    assert det.poll(5 * S) is None


def test_release_just_before_long_press_is_short() -> None:
    det = detector()
    steps = [("feed", True, 0)] + [("poll", None, t * MS) for t in range(10, 2990, 10)]
    steps += [("feed", False, 2990 * MS)]
    # While the release is being debounced the 3 s mark passes: still a short press.
    steps += [("poll", None, t * MS) for t in range(3000, 3100, 5)]
    assert run(det, steps) == [(3020 * MS, Press.short)]


def test_times_going_backwards_count_as_the_latest_seen() -> None:
    det = detector()
    det.feed(True, 1 * S)
    assert det.poll(0) is None  # an older time does not confirm or undo anything
    assert det.poll(1 * S + 30 * MS) is None
    assert det.pressed


def test_zero_debounce_commits_at_once() -> None:
    det = PressDetector(debounce_ns=0, long_press_ns=S)
    assert det.feed(True, 0) is None
    assert det.pressed
    assert det.feed(False, 10 * MS) == Press.short


def test_detector_from_config_and_argument_checks() -> None:
    det = PressDetector.from_config(ButtonConfig(debounce_ms=20.0, long_press_s=1.5))
    assert (det.debounce_ns, det.long_press_ns) == (20 * MS, 1500 * MS)
    with pytest.raises(ValueError):
        PressDetector(debounce_ns=-1, long_press_ns=S)
    with pytest.raises(ValueError):
        PressDetector(debounce_ns=0, long_press_ns=0)


def test_configs_are_frozen_and_strict() -> None:
    cfg = ButtonConfig()
    assert (cfg.enabled, cfg.chip, cfg.line, cfg.active_low) == (False, "/dev/gpiochip0", 17, True)
    with pytest.raises(ValidationError):
        ButtonConfig(line=-1)
    with pytest.raises(ValidationError):
        ButtonConfig(pin=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        cfg.line = 4  # type: ignore[misc]
    assert LedConfig().kind == "none"
    with pytest.raises(ValidationError):
        LedConfig(kind="pwm")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        LedConfig(sysfs_name="../../power/state")


# --- Button --------------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.presses: list[Press] = []
        self.event = threading.Event()

    def __call__(self, press: Press) -> None:
        self.presses.append(press)
        self.event.set()


def fast_config(**kw: Any) -> ButtonConfig:
    return ButtonConfig(**{"debounce_ms": 5.0, "long_press_s": 0.3, **kw})


def test_button_with_fake_line_reports_short_and_long_presses() -> None:
    line = FakeLine()
    rec = Recorder()
    with Button(fast_config(), rec, line=line) as button:
        assert button.running and button.error is None
        line.press(0.02)
        assert wait_until(lambda: rec.presses == [Press.short])
        line.press(1.0)  # a long one is reported as soon as it is read
        assert wait_until(lambda: rec.presses == [Press.short, Press.long])
    assert not button.running
    assert line.closed


def test_held_button_fires_long_by_polling_alone() -> None:
    line = FakeLine()
    rec = Recorder()
    with Button(fast_config(), rec, line=line):
        t0 = time.monotonic()
        line.hold()
        assert rec.event.wait(2.0)
        held = time.monotonic() - t0
        assert rec.presses == [Press.long]
        assert 0.25 <= held < 1.5  # at the 0.3 s hold, not at the release
        line.release()
        time.sleep(0.1)
    assert rec.presses == [Press.long]


def test_a_callback_that_raises_does_not_stop_the_button(caplog: pytest.LogCaptureFixture) -> None:
    line = FakeLine()
    calls: list[Press] = []

    def flaky(press: Press) -> None:
        calls.append(press)
        if len(calls) == 1:
            raise RuntimeError("handler bug")

    with (
        caplog.at_level(logging.ERROR, logger="device.button"),
        Button(fast_config(), flaky, line=line) as button,
    ):
        line.press(0.02)
        assert wait_until(lambda: len(calls) == 1)
        line.press(0.02)
        assert wait_until(lambda: len(calls) == 2)
        assert button.running
    assert "handler bug" in caplog.text


def test_button_on_a_missing_chip_logs_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    chip = str(tmp_path / "gpiochip9")
    button = Button(ButtonConfig(enabled=True, chip=chip), Recorder())
    with caplog.at_level(logging.ERROR, logger="device.button"):
        button.start()  # never raises
    assert not button.running
    assert button.error is not None and chip in button.error
    assert chip in caplog.text
    button.stop()  # harmless


def test_button_on_a_file_that_is_no_gpio_chip_sets_error(tmp_path: Path) -> None:
    path = tmp_path / "not-a-chip"
    path.write_text("")
    button = Button(ButtonConfig(enabled=True, chip=str(path)), Recorder())
    button.start()
    assert button.error is not None and not button.running


def test_disabled_button_without_a_line_does_nothing() -> None:
    button = Button(ButtonConfig(enabled=False), Recorder())
    button.start()
    assert not button.running and button.error is None
    button.stop()


def test_line_errors_are_logged_and_the_thread_lives_on(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device.button, "RETRY_S", 0.01)

    class BrokenOnce(FakeLine):
        def __init__(self) -> None:
            super().__init__()
            self.fails = 1

        def wait(self, timeout_s: float) -> list[tuple[bool, int]]:
            if self.fails:
                self.fails -= 1
                raise OSError("read failed")
            return super().wait(timeout_s)

    line = BrokenOnce()
    rec = Recorder()
    with (
        caplog.at_level(logging.ERROR, logger="device.button"),
        Button(fast_config(), rec, line=line),
    ):
        line.press(0.02)
        assert rec.event.wait(3.0)
    assert "read failed" in caplog.text


def edge(rising: bool, t_ns: int, offset: int = 17) -> gpiod.EdgeEvent:
    kind = _ext.EDGE_EVENT_TYPE_RISING if rising else _ext.EDGE_EVENT_TYPE_FALLING
    return gpiod.EdgeEvent(kind, t_ns, offset, 1, 1)


def test_gpiod_line_requests_the_input_and_maps_edges(fake_gpiod: list[FakeRequest]) -> None:
    line = GpiodLine(ButtonConfig(chip="/dev/gpiochip4", line=17, debounce_ms=25.0))
    (req,) = fake_gpiod
    settings = req.config[17]
    assert req.path == "/dev/gpiochip4" and req.consumer == "scanner"
    assert settings.direction == Direction.INPUT and settings.edge_detection == Edge.BOTH
    assert settings.bias == Bias.PULL_UP and settings.active_low is True
    assert settings.debounce_period.total_seconds() == pytest.approx(0.025)
    assert line.wait(0.01) == []
    req.events = [edge(True, 100), edge(False, 200), edge(True, 300, offset=5)]
    assert line.wait(0.01) == [(True, 100), (False, 200)]  # rising = pressed (logical level)
    line.close()
    assert req.released


def test_gpiod_line_active_high_pulls_down(fake_gpiod: list[FakeRequest]) -> None:
    GpiodLine(ButtonConfig(active_low=False))
    settings = fake_gpiod[0].config[17]
    assert settings.bias == Bias.PULL_DOWN and settings.active_low is False
