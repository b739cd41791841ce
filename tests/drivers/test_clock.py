"""ClockSync against a synthetic device clock: offset, 50 ppm drift, exponential latency."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.clock import ClockSync, DeviceTickClock, Unwrapper, monotonic_ns

TICK_NS = 100_000  # Xsens SampleTimeFine: 10 kHz
WRAP = 1 << 32


def _synthetic(
    seconds: float,
    rate_hz: float,
    offset_ns: int,
    drift_ppm: float,
    latency_mean_s: float,
    seed: int,
    stall_every_s: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(device_ns, host_send_ns, host_receive_ns): device clock slow by drift_ppm."""
    rng = np.random.default_rng(seed)
    host_send = np.arange(int(seconds * rate_hz), dtype=np.int64) * int(1e9 / rate_hz)
    host_send += 5_000_000_000_000  # host monotonic clock some hours after boot
    device = ((host_send - offset_ns) / (1.0 + drift_ppm * 1e-6)).astype(np.int64)
    delay = rng.exponential(latency_mean_s * 1e9, len(host_send)).astype(np.int64)
    if stall_every_s:
        # Now and then a whole 0.3 s burst arrives 40 ms late (a USB stall).
        t = (host_send - host_send[0]) / 1e9
        delay += np.where((t % stall_every_s) < 0.3, 40_000_000, 0).astype(np.int64)
    return device, host_send, host_send + delay


@pytest.mark.parametrize("stall_every_s", [0.0, 3.0])
def test_offset_drift_and_latency_within_0p2_ms(stall_every_s: float) -> None:
    latency_mean_s = 1e-3
    device, send, receive = _synthetic(
        60.0,
        200.0,
        offset_ns=-123_456_789_012,
        drift_ppm=50.0,
        latency_mean_s=latency_mean_s,
        seed=1,
        stall_every_s=stall_every_s,
    )
    sync = ClockSync(window_s=30.0, bin_s=0.5)
    mapped = np.array([sync.update(int(d), int(r)) for d, r in zip(device, receive, strict=True)])
    err_ns = mapped - send
    settled = slice(int(10 * 200), None)  # after 10 s the slope is fitted
    assert np.abs(err_ns[settled]).max() < 200_000
    # The estimate is the lower envelope: the mapped time does not run after the receive time.
    assert np.median(receive[settled] - mapped[settled]) > 0
    est = sync.estimate()
    assert est.fitted_drift
    assert est.drift_ppm == pytest.approx(50.0, abs=5.0)
    true_offset = send[-1] - device[-1]
    assert abs(est.offset_ns - true_offset) < 200_000
    if not stall_every_s:
        true_median_ns = np.log(2.0) * latency_mean_s * 1e9
        assert abs(est.latency_ns - true_median_ns) < 200_000
    # to_host_ns agrees with what update returned for the last sample.
    assert abs(sync.to_host_ns(int(device[-1])) - mapped[-1]) < 1_000


def test_before_drift_fit_uses_running_minimum() -> None:
    sync = ClockSync(window_s=10.0, bin_s=0.5, min_fit_span_s=4.0)
    sync.update(1_000, 6_000)  # 5 us late
    sync.update(2_000, 3_500)  # 1.5 us late: the new minimum
    assert sync.offset_ns == 1_500
    assert sync.drift_ppm == 0.0
    assert not sync.estimate().fitted_drift
    assert sync.to_host_ns(10_000) == 11_500


def test_jump_of_device_clock_restarts() -> None:
    sync = ClockSync()
    for i in range(100):
        sync.update(i * 5_000_000, 1_000_000_000 + i * 5_000_000)
    # The device clock leaps 10 s ahead: data would arrive before it was sent.
    host = sync.update(10_000_000_000 + 100 * 5_000_000, 1_000_000_000 + 100 * 5_000_000)
    assert sync.resets == 1
    assert sync.samples == 1
    assert host == 1_000_000_000 + 100 * 5_000_000


def test_unwrapper_across_wraps_and_small_steps_back() -> None:
    u = Unwrapper(WRAP)
    assert u(WRAP - 10) == WRAP - 10
    assert u(5) == WRAP + 5
    assert u(3) == WRAP + 3  # a small step back stays a step back
    assert u(WRAP - 1) == WRAP - 1  # back over the wrap
    assert u(100) == WRAP + 100
    # Several wraps in 1/4-range steps.
    v = WRAP + 100
    for _ in range(12):
        v += WRAP // 4
        assert u(v % WRAP) == v
    with pytest.raises(ValueError):
        u(WRAP)
    u.reset()
    assert u.value is None
    assert u(7) == 7


def test_tick_clock_across_sample_time_fine_wrap() -> None:
    """SampleTimeFine starting 2 s before its 2^32 wrap: the host mapping does not notice."""
    rate_hz = 400.0
    n = int(12 * rate_hz)
    rng = np.random.default_rng(7)
    host_send = 2_000_000_000_000 + np.arange(n, dtype=np.int64) * int(1e9 / rate_hz)
    ticks = (WRAP - 20_000 + np.arange(n) * int(10_000 / rate_hz)) % WRAP
    assert (np.diff(ticks) < 0).any()  # it does wrap
    receive = host_send + rng.exponential(0.5e6, n).astype(np.int64)
    clock = DeviceTickClock(TICK_NS, WRAP)
    mapped = np.array([clock.update(int(t), int(r)) for t, r in zip(ticks, receive, strict=True)])
    assert np.all(np.diff(mapped) > 0)
    assert np.abs(mapped - host_send)[n // 4 :].max() < 200_000
    assert clock.sync.resets == 0


def test_monotonic_ns_is_the_host_clock() -> None:
    a = monotonic_ns()
    b = monotonic_ns()
    assert 0 <= b - a < 1_000_000_000
