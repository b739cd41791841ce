"""Throughput of the Livox point decoders (drivers.livox.packet_batch, .packets) on one core.

Encodes one second of Mid-360 data (200,000 points in 96-point packets, about 2,083 packets)
for each point data type, then times decode_point_packets on the list of datagrams (what the
driver does with each burst it drains from the socket), on one concatenated buffer, and
decode_points one packet at a time. Target: >= 1,000,000 points/s.

    .venv/bin/python benchmarks/livox_decode.py
"""

from __future__ import annotations

import os
import time

import numpy as np

from drivers.livox.packet_batch import decode_point_packets
from drivers.livox.packet_encode import encode_point_packet
from drivers.livox.packets import POINTS_PER_PACKET, DataType, decode_points

POINTS = 200_000  # one second of a Mid-360
REPEATS = 5


def make_packets(data_type: int, rng: np.random.Generator) -> list[bytes]:
    n_packets = POINTS // POINTS_PER_PACKET
    xyz = rng.uniform(-40.0, 40.0, size=(n_packets, POINTS_PER_PACKET, 3))  # [P, 96, 3]
    xyz[:, ::17] = 0.0  # some empty returns
    refl = rng.integers(0, 256, size=(n_packets, POINTS_PER_PACKET), dtype=np.uint8)
    return [
        encode_point_packet(
            xyz[k],
            refl[k],
            None,
            timestamp_ns=10**12 + k * 480_000,
            time_interval_100ns=4800,
            udp_cnt=k,
            data_type=data_type,
        )
        for k in range(n_packets)
    ]


def best_of(fn, repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    rng = np.random.default_rng(0)
    print(
        f"{'data type':<16}{'packets':>8}{'points':>9}{'batch list':>14}"
        f"{'batch buffer':>14}{'per packet':>14}   (points/s)"
    )
    for data_type in (DataType.CARTESIAN_HIGH, DataType.CARTESIAN_LOW, DataType.SPHERICAL):
        packets = make_packets(data_type, rng)
        buffer = b"".join(packets)
        n_points = len(decode_point_packets(packets))
        t_list = best_of(lambda p=packets: decode_point_packets(p))
        t_buf = best_of(lambda b=buffer: decode_point_packets(b))
        t_one = best_of(lambda p=packets: [decode_points(x) for x in p], repeats=2)
        print(
            f"{data_type.name:<16}{len(packets):>8}{n_points:>9}"
            f"{n_points / t_list:>14,.0f}{n_points / t_buf:>14,.0f}{n_points / t_one:>14,.0f}"
        )


if __name__ == "__main__":
    main()
