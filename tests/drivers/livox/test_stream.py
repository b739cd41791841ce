"""Tests of drivers.livox.stream: loss by udp_cnt, the clock mapping, sweeps cut by point time."""

from __future__ import annotations

import numpy as np

from drivers.livox.emulator_packets import sweep_to_packets
from drivers.livox.packet_batch import decode_point_packets
from drivers.livox.packet_encode import encode_point_packet
from drivers.livox.packets import TimeType
from drivers.livox.stream import ClockMapper, SweepAssembler, UdpCntTracker

from .sources import SWEEP_PERIOD_NS, synthetic_frames


def test_udp_cnt_tracker_counts_gaps_with_wraparound() -> None:
    t = UdpCntTracker()
    assert t.update(np.array([65533, 65534, 65535, 0, 1], np.uint16)) == 0
    assert t.update(np.array([4, 5], np.uint16)) == 2
    assert t.update(np.array([5], np.uint16)) == 0  # duplicate
    assert t.update(np.array([65535 - 3, 0], np.uint16)) == 0 + 3  # restart, then a gap of 3
    assert t.drops == 5


def test_clock_mapper_takes_the_minimum_delay() -> None:
    c = ClockMapper()
    lidar = np.array([1_000, 2_000, 3_000], np.int64) * 1_000_000
    host = lidar + 50_000_000_000 + np.array([3_000_000, 100_000, 7_000_000])
    c.update(host, lidar, TimeType.NO_SYNC)
    assert c.offset_ns == 50_000_000_000 + 100_000
    assert c.to_host(10) == 10 + c.offset_ns
    c.update(host[:1] + 10**9, lidar[:1] + 10**9 - 10**10, TimeType.NO_SYNC)  # clock reset
    assert c.offset_ns == 50_000_000_000 + 3_000_000 + 10**10
    c.update(host, lidar, TimeType.PTP)
    assert c.to_host(12345) == 12345 and c.offset_ns is not None


def _mapped(delay_ns: np.ndarray, step_ns: int = 10_000_000):  # [P] -> stamps, mapped, offsets
    """Packets every step_ns with these delays, received in order (a backlog drains in
    order), through a ClockMapper."""
    c = ClockMapper()
    stamps = np.arange(len(delay_ns), dtype=np.int64) * step_ns
    host = np.maximum.accumulate(stamps + 7_000_000_000 + delay_ns)
    mapped, offsets = [], []
    for i in range(len(stamps)):
        c.update(host[i : i + 1], stamps[i : i + 1], TimeType.NO_SYNC)
        mapped.append(c.to_host(int(stamps[i])))
        offsets.append(c.offset_ns - 7_000_000_000)
    return stamps, np.array(mapped), np.array(offsets)


def test_clock_mapper_never_maps_later_stamps_earlier() -> None:
    """A loaded host: the quick packets' second leaves the window, a stall delays a second of
    packets by 1.5 s, a slow second follows, then quick packets again. Host times keep the
    stamps' order (the old filter jumped forwards, then back behind frames handed out) and
    the offset stays near the least delay."""
    from drivers.livox.stream import MAX_FALL, WARM_UP_NS

    delay = np.full(3000, 2_000_000)  # 30 s of packets, 2 ms late
    delay[:100] = 100_000  # one quick second, at the start
    delay[1200:1300] = 1_500_000_000  # a stall of 1.5 s
    delay[1300:1400] = 200_000_000  # then slow for a second
    stamps, mapped, offsets = _mapped(delay)
    assert np.all(np.diff(mapped) > 0)  # the stamps' order, kept
    after = stamps >= WARM_UP_NS
    assert np.diff(offsets[after]).min() >= -MAX_FALL * 10_000_000 - 1  # it falls slowly
    assert offsets[-1] < 3_000_000  # the stall and the slow second were not taken


def test_clock_mapper_follows_a_sensor_that_falls_behind_for_good() -> None:
    delay = np.full(9000, 2_000_000)  # 90 s of packets
    delay[3000:] = 1_000_000_000  # from 30 s on, a second late (a sensor that fell behind)
    _, mapped, offsets = _mapped(delay)
    assert np.all(np.diff(mapped) > 0)
    assert abs(offsets[-1] - 1_000_000_000) < 5_000_000  # followed


def test_sweep_assembler_cuts_on_point_times() -> None:
    a = SweepAssembler(period_ns=SWEEP_PERIOD_NS)
    sweeps = list(synthetic_frames(5, 1000, imu=False))
    packets: list[bytes] = []
    cnt = 0
    for s in sweeps:
        for t, ev in sweep_to_packets(s):
            packets.append(
                encode_point_packet(
                    ev.xyz_m,
                    ev.reflectivity,
                    ev.tag,
                    timestamp_ns=t,
                    time_interval_100ns=ev.time_interval_100ns,
                    udp_cnt=cnt,
                )
            )
            cnt += 1
    done = []
    for k in range(0, len(packets), 7):  # bursts that straddle sweep boundaries
        done += a.add(decode_point_packets(packets[k : k + 7]))
    done += a.flush()
    assert [len(d.xyz_m) for d in done] == [1000] * 5
    for d, s in zip(done, sweeps, strict=True):
        assert d.start_ns == s.t_ns
        # float32 point_dt_s carries ~1 ns of rounding; packets space points evenly
        np.testing.assert_allclose(d.t_ns - d.start_ns, np.arange(1000) * 100_000, atol=10)
        assert np.abs(d.xyz_m - s.xyz_m).max() < 0.6e-3
