"""Pure helpers over the Mid-360's incoming streams, used by the driver's IO thread.

:class:`UdpCntTracker` counts packets lost from gaps in udp_cnt; :class:`ClockMapper` maps
the lidar's clock onto the host's monotonic clock (a windowed minimum of receive time minus
timestamp); :class:`SweepAssembler` cuts the decoded point stream into sweeps of one period
(:class:`SweepPoints`); :class:`StreamCounters` and :class:`StreamRates` are what the driver
counts and measures. No sockets, no threads: each is fed arrays and answers with values.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass

import numpy as np

from drivers.livox.packet_batch import PointBatch
from drivers.livox.packets import TimeType

log = logging.getLogger(__name__)


CLOCK_BUCKET_NS = 1_000_000_000
CLOCK_WINDOW_BUCKETS = 10
CLOCK_RESET_NS = 1_000_000_000  # stamps going back by more than this restart the filter
MAX_FALL = 0.1  # the applied offset falls by at most 0.1 s per second (after the warm-up)
WARM_UP_NS = 2_000_000_000  # the first seconds: the offset takes the minimum as it comes


class UdpCntTracker:
    """Packets missing from a stream, from gaps in its 16-bit udp_cnt."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.drops = 0

    def update(self, cnts: np.ndarray) -> int:  # [P] uint16, arrival order
        if len(cnts) == 0:
            return 0
        seq = cnts.astype(np.int64)
        prev = np.concatenate([[seq[0] - 1 if self.last is None else self.last], seq[:-1]])
        step = (seq - prev) % 65536
        forward = (step >= 1) & (step < 32768)  # else a duplicate, a late packet or a restart
        new = int(np.sum(step[forward] - 1))
        self.drops += new
        self.last = int(seq[-1])
        return new


class ClockMapper:
    """Lidar clock -> host monotonic clock, by a windowed minimum of (receive - stamp).

    The windowed minimum is the offset to aim at; the one applied follows it up at once, and
    down at once only in the filter's first WARM_UP_NS, then no faster than MAX_FALL seconds
    per second: the host time of a later stamp then always comes later (a minimum leaving the
    window on a loaded host, or a stall, jumps the offset up; quick packets again used to jump
    it back down, behind frames already handed out). A stream more than CLOCK_RESET_NS later
    than the offset (a stalled host, a sensor fallen behind) is taken at once. A lidar clock
    that restarts (its stamps go back by more than CLOCK_RESET_NS) restarts the filter."""

    def __init__(self) -> None:
        self._buckets: collections.deque[list[int]] = collections.deque()  # [bucket, min]
        self.offset_ns: int | None = None  # applied
        self.time_type: int | None = None
        self._last_stamp_ns: int | None = None
        self._last_host_ns: int | None = None
        self._started_ns: int | None = None  # host time of the filter's first packet

    def reset(self) -> None:
        self._buckets.clear()
        self.offset_ns = self._last_stamp_ns = self._started_ns = None

    def update(self, host_ns: np.ndarray, lidar_ns: np.ndarray, time_type: int) -> None:
        if len(host_ns) == 0:
            return
        if time_type != self.time_type:
            self.reset()
            self.time_type = time_type
        newest_stamp, newest_host = int(np.max(lidar_ns)), int(host_ns[-1])
        if self._last_stamp_ns is not None and newest_stamp < self._last_stamp_ns - CLOCK_RESET_NS:
            log.warning(
                "lidar clock went back by %.3f s; clock filter restarted",
                (self._last_stamp_ns - newest_stamp) * 1e-9,
            )
            self.reset()
        candidate = int(np.min(host_ns.astype(np.int64) - lidar_ns.astype(np.int64)))
        if self.offset_ns is not None and candidate - self.offset_ns > CLOCK_RESET_NS:
            log.warning(
                "lidar stream %.3f s late; the clock follows", (candidate - self.offset_ns) * 1e-9
            )
            self._buckets.clear()  # taken at once; should quick packets come back, it falls slowly
        bucket = newest_host // CLOCK_BUCKET_NS
        if self._buckets and self._buckets[-1][0] == bucket:
            self._buckets[-1][1] = min(self._buckets[-1][1], candidate)
        else:
            self._buckets.append([bucket, candidate])
        while self._buckets and self._buckets[0][0] <= bucket - CLOCK_WINDOW_BUCKETS:
            self._buckets.popleft()
        target = min(b[1] for b in self._buckets)
        if self._started_ns is None:
            self._started_ns = newest_host
        if (
            self.offset_ns is None
            or target >= self.offset_ns
            or newest_host - self._started_ns < WARM_UP_NS
        ):
            self.offset_ns = target
        else:
            elapsed_ns = max(newest_host - (self._last_host_ns or newest_host), 0)
            self.offset_ns -= min(self.offset_ns - target, int(MAX_FALL * elapsed_ns) + 1)
        last = self._last_stamp_ns
        self._last_stamp_ns = newest_stamp if last is None else max(last, newest_stamp)
        self._last_host_ns = newest_host

    def to_host(self, lidar_ns: int) -> int:
        if self.time_type in (TimeType.PTP, TimeType.GPS) or self.offset_ns is None:
            return lidar_ns
        return lidar_ns + self.offset_ns


@dataclass(frozen=True, slots=True)
class SweepPoints:
    """One sweep's points on the lidar's clock, before they become a LidarSweep."""

    start_ns: int  # lidar clock
    xyz_m: np.ndarray  # [N, 3] float32
    reflectivity: np.ndarray  # [N] uint8
    tag: np.ndarray  # [N] uint8
    line: np.ndarray  # [N] uint8
    t_ns: np.ndarray  # [N] int64 lidar clock


class SweepAssembler:
    """Cuts the point stream into sweeps of period_ns on a grid anchored at the first packet
    (with PTP/GPS time: at multiples of period_ns since the epoch).

    Points are binned by their own (lidar-clock) times, so a packet that straddles a
    boundary is split. A sweep is complete when a later one begins; gaps leave no empty
    sweeps; a change of time_type, or a lidar clock that runs backwards by more than a
    second, restarts the grid.
    """

    def __init__(self, period_ns: int) -> None:
        self.period_ns = period_ns
        self.origin_ns: int | None = None
        self.index: int | None = None
        self.time_type: int | None = None
        self._chunks: list[tuple[np.ndarray, ...]] = []

    def add(self, batch: PointBatch) -> list[SweepPoints]:
        done: list[SweepPoints] = []
        if len(batch.headers) == 0:
            return done
        first_ts = int(batch.headers["timestamp"][0])
        time_type = int(batch.headers["time_type"][0])
        if (
            self.origin_ns is None
            or time_type != self.time_type
            or (self.index is not None and first_ts < self._start(self.index) - 1_000_000_000)
        ):
            done.extend(self.flush())
            synced = time_type in (TimeType.PTP, TimeType.GPS)
            self.origin_ns = 0 if synced else first_ts  # synced: sweeps on whole periods
            self.index, self.time_type = None, time_type
        if len(batch) == 0:
            return done
        k = (batch.t_ns - self.origin_ns) // self.period_ns  # [N]
        if self.index is not None:
            k = np.maximum(k, self.index)  # a little reordering joins the current sweep
        cuts = np.flatnonzero(np.diff(k)) + 1
        for s, e in zip(np.r_[0, cuts], np.r_[cuts, len(k)], strict=True):
            ks = int(k[s])
            if self.index is not None and ks != self.index:
                done.extend(self.flush())
            self.index = ks
            self._chunks.append(
                (
                    batch.xyz_m[s:e],
                    batch.reflectivity[s:e],
                    batch.tag[s:e],
                    batch.line[s:e],
                    batch.t_ns[s:e],
                )
            )
        return done

    def _start(self, index: int) -> int:
        assert self.origin_ns is not None
        return self.origin_ns + index * self.period_ns

    def flush(self) -> list[SweepPoints]:
        if not self._chunks or self.index is None:
            return []
        xyz, refl, tag, line, t_ns = (np.concatenate(c) for c in zip(*self._chunks, strict=True))
        self._chunks = []
        return [SweepPoints(self._start(self.index), xyz, refl, tag, line, t_ns)]


@dataclass
class StreamCounters:
    """What the driver has received and handed out since it was made."""

    sweeps: int = 0
    points: int = 0
    imu_samples: int = 0
    point_packets: int = 0
    imu_packets: int = 0
    frames_dropped: int = 0


@dataclass
class StreamRates:
    """Per-second rates over the last second."""

    point_rate_hz: float = 0.0
    sweep_rate_hz: float = 0.0
    imu_rate_hz: float = 0.0
    packet_rate_hz: float = 0.0
