"""Tests of data packets: point and IMU packets encoded and decoded one at a time."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.livox.errors import BadFrameError, OversizedError, TruncatedError, UnknownDataTypeError
from drivers.livox.packet_encode import encode_imu_packet, encode_point_packet
from drivers.livox.packets import SPHERICAL_POINT, decode_imu, decode_points

from .codec_data import FUZZ, _packet, _points


@pytest.mark.parametrize(
    ("data_type", "size", "tol_m"),
    [(1, 1380, 0.5e-3 + 1e-5), (2, 804, 5e-3 + 1e-5), (3, 996, None)],
)
def test_point_round_trip(data_type: int, size: int, tol_m: float | None) -> None:
    xyz = _points(96, seed=data_type, r_max=60.0 if data_type != 2 else 300.0)
    xyz[10] = 0.0  # an empty return
    refl = np.arange(96, dtype=np.uint8)
    tag = (np.arange(96) % 3).astype(np.uint8)
    pkt = encode_point_packet(
        xyz,
        refl,
        tag,
        timestamp_ns=123_456_789_000,
        time_interval_100ns=4800,
        udp_cnt=65535,
        data_type=data_type,
        frame_cnt=3,
    )
    assert len(pkt) == size
    d = decode_points(pkt)
    keep = np.arange(96) != 10
    assert len(d) == 95
    assert d.header.udp_cnt == 65535 and d.header.dot_num == 96 and d.header.data_type == data_type
    if tol_m is None:  # 1 mm in range, 0.01 deg in each angle
        r = np.linalg.norm(xyz[keep], axis=1)
        tol = 0.5e-3 + r * np.radians(0.005) * 2 + 1e-5
        assert np.all(np.linalg.norm(d.xyz_m - xyz[keep], axis=1) <= tol)
    else:
        assert np.abs(d.xyz_m - xyz[keep]).max() <= tol_m
    assert d.xyz_m.dtype == np.float32 and d.xyz_m.shape == (95, 3)
    np.testing.assert_array_equal(d.reflectivity, refl[keep])
    np.testing.assert_array_equal(d.tag, tag[keep])
    np.testing.assert_array_equal(d.line, (np.arange(96) % 4)[keep])
    np.testing.assert_array_equal(d.t_ns, 123_456_789_000 + np.arange(96)[keep] * 5000)


def test_spherical_follows_the_ros_driver() -> None:
    """x = r sin(theta) cos(phi), y = r sin(theta) sin(phi), z = r cos(theta)."""
    rec = np.zeros(4, dtype=SPHERICAL_POINT)
    rec["depth"] = [1000, 2000, 3000, 4000]
    rec["theta"] = [9000, 9000, 0, 4500]
    rec["phi"] = [0, 9000, 1234, 18000]
    pkt = (
        struct.pack("<BHHHHBBB12sIQ", 0, 36 + rec.nbytes, 0, 4, 0, 0, 3, 0, bytes(12), 0, 0)
        + rec.tobytes()
    )
    d = decode_points(pkt)
    s = np.sqrt(0.5)
    expected = [[1, 0, 0], [0, 2, 0], [0, 0, 3], [-4 * s, 0, 4 * s]]
    np.testing.assert_allclose(d.xyz_m, expected, atol=1e-6)


def test_point_interval_is_integer_as_in_the_ros_driver() -> None:
    pkt = _packet(n=96, time_interval_100ns=4801)  # 480100 ns / 96 = 5001.04 -> 5001
    d = decode_points(pkt)
    assert d.header.point_interval_ns == 5001
    assert d.t_ns[95] == 10**12 + 95 * 5001


def test_imu_units() -> None:
    pkt = encode_imu_packet([0.1, -0.2, 0.3], [0.0, 0.5, 1.0], timestamp_ns=42, udp_cnt=9)
    assert len(pkt) == 60
    d = decode_imu(pkt)
    assert d.t_ns == 42 and d.header.udp_cnt == 9 and d.header.data_type == 0
    np.testing.assert_allclose(d.gyro_radps, [0.1, -0.2, 0.3], rtol=1e-7)
    np.testing.assert_array_equal(d.acc_g, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(d.acc_mps2, [0.0, 0.5 * 9.80665, 9.80665])
    with pytest.raises(BadFrameError):
        decode_imu(_packet())
    with pytest.raises(BadFrameError):
        decode_points(pkt)


def test_data_packet_errors() -> None:
    good = _packet()
    with pytest.raises(TruncatedError):
        decode_points(good[:35])
    with pytest.raises(TruncatedError):
        decode_points(good[:-1])
    with pytest.raises(BadFrameError):
        decode_points(good + b"\0")
    with pytest.raises(OversizedError):
        decode_points(good + bytes(200))
    with pytest.raises(UnknownDataTypeError):
        decode_points(good[:10] + b"\x07" + good[11:])
    bad_count = bytearray(good)
    struct.pack_into("<H", bad_count, 5, 95)
    with pytest.raises(BadFrameError):
        decode_points(bytes(bad_count))
    big_ts = bytearray(good)
    struct.pack_into("<Q", big_ts, 28, 1 << 63)
    with pytest.raises(BadFrameError):
        decode_points(bytes(big_ts))
    empty = encode_point_packet(np.zeros((0, 3)), timestamp_ns=5, time_interval_100ns=0, udp_cnt=0)
    assert len(empty) == 36 and len(decode_points(empty)) == 0


@FUZZ
@given(
    st.sampled_from([1, 2, 3]),
    st.integers(0, 96),
    st.integers(0, 65535),
    st.integers(0, (1 << 63) - 1 - 10**9),
    st.integers(0, 10**6),
)
def test_any_point_packet_round_trips(
    data_type: int, n: int, interval: int, ts: int, seed: int
) -> None:
    xyz = _points(n, seed=seed)
    pkt = encode_point_packet(
        xyz,
        None,
        None,
        timestamp_ns=ts,
        time_interval_100ns=interval,
        udp_cnt=seed,
        data_type=data_type,
    )
    d = decode_points(pkt)
    assert len(d) == n and d.header.udp_cnt == seed & 0xFFFF
    if n:
        assert d.t_ns[0] == ts and np.all(np.diff(d.t_ns) == interval * 100 // n)
        tol = 0.006 if data_type == 2 else 0.012  # 60 m * 0.01 deg = 10.5 mm
        assert np.abs(d.xyz_m - xyz).max() < tol
