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


def test_clock_mapper_never_maps_later_stamps_earlier() -> None:
    """A loaded host: the quick packets' bucket leaves the window, a stall delays a second of
    packets by 1.5 s, then quick packets again. The applied offset rises no faster than a
    drift (so a minimum leaving the window does not jump it), and host times keep the order
    of the stamps (the old filter jumped forwards, then back behind frames handed out)."""
    from drivers.livox.stream import CLOCK_WINDOW_BUCKETS, MAX_RISE

    c = ClockMapper()
    step_ns = 10_000_000  # a packet every 10 ms
    stamps = np.arange(0, 30_000_000_000, step_ns, dtype=np.int64)  # [3000] 30 s
    delay = np.full(len(stamps), 2_000_000)  # 2 ms
    delay[:100] = 100_000  # one quick second, at the start
    delay[1200:1300] = 1_500_000_000  # a stall of 1.5 s
    delay[1300:1400] = 200_000_000  # then slow for a second
    host = np.maximum.accumulate(stamps + 7_000_000_000 + delay)  # a backlog drains in order
    mapped, offsets = [], []
    for i in range(len(stamps)):
        c.update(host[i : i + 1], stamps[i : i + 1], TimeType.NO_SYNC)
        mapped.append(c.to_host(int(stamps[i])))
        offsets.append(c.offset_ns)
    assert np.all(np.diff(np.array(mapped)) > 0)  # the stamps' order, kept
    rises = np.diff(np.array(offsets))
    assert rises.max() <= MAX_RISE * step_ns * 2 + 1
    assert c.offset_ns - 7_000_000_000 < 2_000_000 + MAX_RISE * 1e9 * 30  # never took the stall
    assert CLOCK_WINDOW_BUCKETS < 30  # the quick second did leave the window


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
