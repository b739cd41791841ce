"""Tests of drivers.livox.packet_batch: many point packets decoded at once."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.livox.errors import TruncatedError
from drivers.livox.packet_batch import decode_point_packets
from drivers.livox.packets import decode_points

from .codec_data import _packet


def test_batch_decoder_matches_single_packets() -> None:
    packets = [
        _packet(1, 96, seed=1, udp_cnt=1),
        _packet(2, 96, seed=2, udp_cnt=2),
        _packet(1, 50, seed=3, udp_cnt=3),
        _packet(3, 96, seed=4, udp_cnt=4),
        _packet(1, 96, seed=5, udp_cnt=5, timestamp_ns=2 * 10**12),
    ]
    singles = [decode_points(x) for x in packets]
    for batch in (decode_point_packets(packets), decode_point_packets(b"".join(packets))):
        np.testing.assert_array_equal(batch.xyz_m, np.concatenate([s.xyz_m for s in singles]))
        np.testing.assert_array_equal(batch.t_ns, np.concatenate([s.t_ns for s in singles]))
        np.testing.assert_array_equal(batch.line, np.concatenate([s.line for s in singles]))
        np.testing.assert_array_equal(batch.tag, np.concatenate([s.tag for s in singles]))
        np.testing.assert_array_equal(
            batch.reflectivity, np.concatenate([s.reflectivity for s in singles])
        )
        np.testing.assert_array_equal(batch.headers["udp_cnt"], [1, 2, 3, 4, 5])
        np.testing.assert_array_equal(batch.packet, np.repeat(np.arange(5), [96, 96, 50, 96, 96]))
        assert batch.errors == ()


def test_batch_decoder_errors() -> None:
    good = _packet()
    packets = [good, good[:50], good[:10] + b"\x09" + good[11:], good + bytes(200), good]
    with pytest.raises(TruncatedError):
        decode_point_packets(packets)
    batch = decode_point_packets(packets, errors="skip")
    assert [i for i, _ in batch.errors] == [1, 2, 3]
    assert [e.kind for _, e in batch.errors] == ["truncated", "unknown_data_type", "oversized"]
    np.testing.assert_array_equal(batch.source_index, [0, 4])
    assert len(batch) == 192
    with pytest.raises(TruncatedError):
        decode_point_packets(good + good[:100])
    assert len(decode_point_packets([])) == 0
