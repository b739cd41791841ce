"""Host-clock mapping shared by all drivers: device timestamps onto the host monotonic clock.

Every frame a driver yields carries `t_ns` on the host's `time.monotonic_ns()`. Devices stamp
their samples with their own clock (an IMU's tick counter, a lidar's timestamp), which is
precise from sample to sample but has an unknown offset from the host and drifts by tens of
ppm; the host's receive time has the opposite character: the right clock, plus a one-way
transport delay (USB polling, UART, OS scheduling) that is never negative but jitters.

`ClockSync` combines the two in the classic way for one-way delays. For each pair
(device_ns, host_receive_ns) the difference d = host - device = offset + delay, with
delay >= 0; jitter only ever adds, so the lower envelope of d is the offset. It keeps the
minimum of d over short bins of device time and, over a sliding window, fits a line through
those minima (a slow, robust linear fit): its slope is the drift, its value now the offset.
Host time of a device timestamp = device + offset. The offset so found includes the
*smallest* transport delay (a fixed USB/UART latency cannot be seen from one direction); the
latency reported is the typical delay above that floor, the median of d - offset.

`Unwrapper` extends wrapping counters (the Xsens SampleTimeFine wraps at 2^32 ticks of
100 us, about 5 days) so the sync sees a monotonic device time; `DeviceTickClock` combines
both for tick counters.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

_NS_PER_S = 1_000_000_000


def monotonic_ns() -> int:
    """The host clock every driver stamps its frames with."""
    return time.monotonic_ns()


def utc_pair() -> tuple[int, int]:
    """(host monotonic ns, UTC Unix ns) read at the same instant (the UTC read is bracketed by
    two monotonic reads and paired with their midpoint), to carry frame times over to UTC."""
    a = time.monotonic_ns()
    utc_ns = time.time_ns()
    b = time.monotonic_ns()
    return (a + b) // 2, utc_ns


class Unwrapper:
    """Extends a counter that wraps at `modulus` into an unbounded integer.

    Steps are taken modulo `modulus` and read as signed: a step of more than half the range
    forwards is a small step backwards. The first value passes through unchanged.
    """

    def __init__(self, modulus: int) -> None:
        if modulus < 2:
            raise ValueError(f"modulus must be >= 2, got {modulus}")
        self.modulus = modulus
        self._last_raw: int | None = None
        self._value = 0

    def __call__(self, raw: int) -> int:
        if not 0 <= raw < self.modulus:
            raise ValueError(f"counter value {raw} outside 0..{self.modulus - 1}")
        if self._last_raw is None:
            self._value = raw
        else:
            step = (raw - self._last_raw) % self.modulus
            if step >= self.modulus // 2:
                step -= self.modulus
            self._value += step
        self._last_raw = raw
        return self._value

    @property
    def value(self) -> int | None:
        return None if self._last_raw is None else self._value

    def reset(self) -> None:
        self._last_raw = None
        self._value = 0


@dataclass(frozen=True, slots=True)
class ClockEstimate:
    """A snapshot of a ClockSync: host ≈ device + offset_ns (at the latest sample)."""

    offset_ns: int
    drift_ppm: float  # device clock slow by this much relative to the host: d grows with it
    latency_ns: int  # median transport delay above the minimum one
    samples: int
    fitted_drift: bool  # False while the window is too short to fit a slope


class ClockSync:
    """Offset (and drift) of a device clock against the host clock, from one-way timestamps.

    window_s: the span of device time the fit looks at; bin_s: the length of each bin whose
    minimum enters the fit (a bin should hold tens of samples); min_fit_span_s: the span the
    bins must cover before a slope is fitted (before that the drift is taken as zero);
    jump_ns: a sample arriving this much *before* the model allows means the device clock
    jumped (reboot, reset): everything is forgotten and the sync starts over.
    """

    def __init__(
        self,
        window_s: float = 30.0,
        bin_s: float = 0.5,
        fit_drift: bool = True,
        min_fit_span_s: float = 4.0,
        latency_history: int = 501,
        jump_ns: int = 50_000_000,
    ) -> None:
        if not (bin_s > 0.0 and window_s >= 2.0 * bin_s):
            raise ValueError(f"need bin_s > 0 and window_s >= 2 bin_s, got {bin_s}, {window_s}")
        self.window_s = window_s
        self.bin_s = bin_s
        self.fit_drift = fit_drift
        self.min_fit_span_s = min_fit_span_s
        self.jump_ns = jump_ns
        self._history: deque[tuple[float, float]] = deque(maxlen=latency_history)
        self.resets = 0
        self.reset()

    def reset(self) -> None:
        """Forget everything (the device restarted, or the link was reopened)."""
        self._device_ref: int | None = None  # device_ns of the first sample: x = 0
        self._d_ref = 0  # host - device of the first sample; d values are kept relative to it
        self._bins: deque[tuple[float, float]] = deque()  # (x_s, min d) of closed bins
        self._bin_index: int | None = None
        self._bin_min: tuple[float, float] | None = None
        self._slope = 0.0  # ns of d per s of device time
        self._intercept = 0.0  # d at x = 0, ns (relative to _d_ref)
        self._fitted = False
        self._last_x = 0.0
        self._history.clear()
        self._samples = 0

    # -- feeding ----------------------------------------------------------------------------

    def update(self, device_ns: int, host_ns: int) -> int:
        """Add one pair (device timestamp, host receive time); return that sample's host time."""
        if self._device_ref is None:
            self._device_ref = device_ns
            self._d_ref = host_ns - device_ns
        x = (device_ns - self._device_ref) / _NS_PER_S
        d = float(host_ns - device_ns - self._d_ref)
        if self._samples and (d < self._line(x) - self.jump_ns or x < self._last_x - self.window_s):
            log.warning(
                "device clock jumped (%.3f s against the host): clock sync starts over",
                (d - self._line(x)) / _NS_PER_S,
            )
            self.resets += 1
            self.reset()
            return self.update(device_ns, host_ns)
        self._samples += 1
        self._last_x = max(self._last_x, x)
        self._history.append((x, d))
        changed = False
        index = math.floor(x / self.bin_s)
        if self._bin_index is None or index > self._bin_index:
            if self._bin_min is not None:
                self._bins.append(self._bin_min)
            self._bin_index, self._bin_min = index, (x, d)
            while self._bins and self._bins[0][0] < x - self.window_s:
                self._bins.popleft()
            changed = True
        elif self._bin_min is None or d < self._bin_min[1]:
            self._bin_min = (x, d)
            changed = True
        if changed:
            self._fit()
        return device_ns + self._offset_at(x)

    def _line(self, x: float) -> float:
        return self._intercept + self._slope * x

    def _offset_at(self, x: float) -> int:
        return self._d_ref + int(round(self._line(x)))

    def _fit(self) -> None:
        points = list(self._bins)
        if self._bin_min is not None:
            points.append(self._bin_min)
        xs = np.array([p[0] for p in points])
        ds = np.array([p[1] for p in points])
        span_s = float(xs[-1] - xs[0]) if len(xs) else 0.0
        if self.fit_drift and len(xs) >= 3 and span_s >= self.min_fit_span_s:
            self._slope, self._intercept = _robust_line(xs, ds)
            self._fitted = True
        else:
            # Too short a window for a slope: the lower envelope is the offset.
            self._slope = 0.0
            self._intercept = float(ds.min())
            self._fitted = False

    # -- reading ----------------------------------------------------------------------------

    def to_host_ns(self, device_ns: int) -> int:
        """Host time of a device timestamp under the current model."""
        if self._device_ref is None:
            raise RuntimeError("ClockSync has no samples yet")
        return device_ns + self._offset_at((device_ns - self._device_ref) / _NS_PER_S)

    @property
    def samples(self) -> int:
        return self._samples

    @property
    def offset_ns(self) -> int:
        """host - device at the latest device time (0 before the first sample)."""
        return self._offset_at(self._last_x) if self._samples else 0

    @property
    def drift_ppm(self) -> float:
        return self._slope / 1e3  # ns per s -> ppm

    @property
    def latency_ns(self) -> int:
        """Median delay above the fitted minimum over the recent samples."""
        if not self._history:
            return 0
        h = np.array(self._history)
        return int(round(float(np.median(h[:, 1] - (self._intercept + self._slope * h[:, 0])))))

    def estimate(self) -> ClockEstimate:
        return ClockEstimate(
            offset_ns=self.offset_ns,
            drift_ppm=self.drift_ppm,
            latency_ns=self.latency_ns,
            samples=self._samples,
            fitted_drift=self._fitted,
        )


def _robust_line(xs: np.ndarray, ds: np.ndarray) -> tuple[float, float]:
    """Least-squares line through bin minima, refitted without high outliers.

    A bin in which every sample was held up (a USB stall) has a high minimum; minima are
    never too low, so only the high side is trimmed. Returns (slope, intercept at x = 0).
    """
    xm = float(xs.mean())
    slope, icpt = np.polyfit(xs - xm, ds, 1)
    r = ds - (icpt + slope * (xs - xm))
    med = float(np.median(r))
    spread = max(1.4826 * float(np.median(np.abs(r - med))), 1e3)  # at least 1 us
    keep = r <= med + 3.0 * spread
    if 3 <= int(keep.sum()) < len(xs):
        slope, icpt = np.polyfit(xs[keep] - xm, ds[keep], 1)
    return float(slope), float(icpt - slope * xm)


class DeviceTickClock:
    """A wrapping device tick counter mapped onto the host clock (Unwrapper + ClockSync)."""

    def __init__(self, tick_ns: int, modulus: int, sync: ClockSync | None = None) -> None:
        if tick_ns <= 0:
            raise ValueError(f"tick_ns must be > 0, got {tick_ns}")
        self.tick_ns = tick_ns
        self.unwrap = Unwrapper(modulus)
        self.sync = sync if sync is not None else ClockSync()

    def device_ns(self, ticks: int) -> int:
        """Unwrapped device time of a raw tick value (advances the unwrapper)."""
        return self.unwrap(ticks) * self.tick_ns

    def update(self, ticks: int, host_ns: int) -> int:
        """Add one (raw ticks, host receive time) pair; return the sample's host time."""
        return self.sync.update(self.device_ns(ticks), host_ns)

    def reset(self) -> None:
        self.unwrap.reset()
        self.sync.reset()
