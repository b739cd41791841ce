"""Frames cut into the datagrams an emulated Mid-360 sends: pure, no sockets or threads.

:func:`sweep_to_packets` cuts a :class:`~drivers.frames.LidarSweep` into the contents of
consecutive point packets (:class:`PointChunk`, up to 96 points, timed so that the decoders'
rule gives the points' times back); :func:`imu_event` turns an
:class:`~drivers.frames.ImuSample` into what one IMU packet carries (acceleration in g); and
:func:`encode_event` makes either into datagram bytes once the data type and udp_cnt are known.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from drivers.frames import ImuSample, LidarSweep
from drivers.livox.packet_encode import encode_imu_packet, encode_point_packet
from drivers.livox.packets import MAX_TIME_INTERVAL, POINTS_PER_PACKET, STANDARD_GRAVITY_MPS2

_MAX_PACKET_SPAN_NS = 6_400_000  # keeps time_interval (u16, 0.1 us) in range at 96 points


@dataclass(frozen=True, slots=True)
class PointChunk:
    """The points of one packet, before the data type and udp_cnt are known."""

    xyz_m: np.ndarray  # [n, 3]
    reflectivity: np.ndarray  # [n] uint8
    tag: np.ndarray  # [n] uint8
    time_interval_100ns: int
    frame_cnt: int


@dataclass(frozen=True, slots=True)
class ImuEvent:
    """What one IMU packet carries."""

    gyro_radps: np.ndarray  # [3]
    acc_g: np.ndarray  # [3]


def sweep_to_packets(
    sweep: LidarSweep, max_points: int = POINTS_PER_PACKET
) -> Iterator[tuple[int, PointChunk]]:
    """(first point's source time ns, packet contents) for consecutive packets of a sweep.

    Packets hold up to 96 points, fewer where 96 would span more time than time_interval can
    say; time_interval is chosen so that the decoders' rule (timestamp + i * interval / n)
    gives back points spaced evenly from the first to the last.
    """
    n = len(sweep)
    if n == 0:
        return
    dt_ns = (
        np.zeros(n, np.int64)
        if sweep.point_dt_s is None
        else np.rint(np.asarray(sweep.point_dt_s, np.float64) * 1e9).astype(np.int64)
    )
    t_ns = sweep.t_ns + dt_ns  # [N]
    refl = (
        np.zeros(n, np.uint8)
        if sweep.intensity is None
        else np.clip(np.rint(sweep.intensity), 0, 255).astype(np.uint8)
    )
    tag = np.zeros(n, np.uint8) if sweep.tag is None else np.asarray(sweep.tag, np.uint8)
    xyz = sweep.xyz_m
    if np.any(np.diff(t_ns) < 0):  # packets need points in time order
        order = np.argsort(t_ns, kind="stable")
        t_ns, xyz, refl, tag = t_ns[order], xyz[order], refl[order], tag[order]
    frame_cnt = sweep.index & 0xFF
    s = 0
    while s < n:
        e = min(s + max_points, int(np.searchsorted(t_ns, t_ns[s] + _MAX_PACKET_SPAN_NS, "right")))
        e = max(e, s + 1)
        k = e - s
        interval = 0 if k == 1 else _time_interval(int(t_ns[e - 1] - t_ns[s]) / (k - 1), k)
        yield int(t_ns[s]), PointChunk(xyz[s:e], refl[s:e], tag[s:e], interval, frame_cnt)
        s = e


def _time_interval(spacing_ns: float, k: int) -> int:
    """time_interval (0.1 us) whose decoded spacing, time_interval * 100 // k, is nearest."""
    lo = min(int(spacing_ns * k // 100), MAX_TIME_INTERVAL)
    candidates = [ti for ti in (lo, lo + 1) if ti <= MAX_TIME_INTERVAL]
    return min(candidates, key=lambda ti: abs(ti * 100 // k - spacing_ns))


def imu_event(sample: ImuSample) -> ImuEvent:
    """An IMU sample as the Mid-360 sends it: acceleration in g, not m/s^2."""
    acc_g = np.asarray(sample.accel_mps2, np.float64) / STANDARD_GRAVITY_MPS2
    return ImuEvent(np.asarray(sample.gyro_radps, np.float64), acc_g)


def encode_event(
    ev: PointChunk | ImuEvent, timestamp_ns: int, udp_cnt: int, data_type: int, time_type: int
) -> bytes:
    """The datagram of a point packet (of data_type) or of an IMU packet, stamped timestamp_ns."""
    if isinstance(ev, PointChunk):
        return encode_point_packet(
            ev.xyz_m,
            ev.reflectivity,
            ev.tag,
            timestamp_ns=timestamp_ns,
            time_interval_100ns=ev.time_interval_100ns,
            udp_cnt=udp_cnt,
            data_type=data_type,
            time_type=time_type,
            frame_cnt=ev.frame_cnt,
        )
    return encode_imu_packet(
        ev.gyro_radps,
        ev.acc_g,
        timestamp_ns=timestamp_ns,
        udp_cnt=udp_cnt,
        time_type=time_type,
    )
