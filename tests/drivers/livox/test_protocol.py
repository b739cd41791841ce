"""Tests of drivers.livox.protocol: checksums, command frames, key-value lists, data packets."""

from __future__ import annotations

import contextlib
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.livox import protocol as p

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _points(n: int, seed: int = 0, r_min: float = 1.0, r_max: float = 60.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return d * rng.uniform(r_min, r_max, size=(n, 1))  # [n, 3]


def _packet(data_type: int = 1, n: int = 96, seed: int = 0, **kw: int) -> bytes:
    args = dict(timestamp_ns=10**12, time_interval_100ns=4800, udp_cnt=7, data_type=data_type)
    args.update(kw)
    refl = np.arange(n, dtype=np.uint8)
    tag = (np.arange(n) % 3).astype(np.uint8)
    return p.encode_point_packet(_points(n, seed), refl, tag, **args)


# ------------------------------------------------------------------------------ checksums


def test_crc_check_values() -> None:
    assert p.crc16_ccitt_false(b"123456789") == 0x29B1
    header = bytes([0xAA, 0x00, 24, 0x00]) + bytes(14)
    assert p.crc16_ccitt_false(header) == 0x64C8
    assert p.crc32(b"123456789") == 0xCBF43926
    discovery = p.encode_command(p.discovery_request(0))
    assert discovery[18:20] == (0x64C8).to_bytes(2, "little")
    assert discovery[20:24] == bytes(4)  # no data: crc32 field is 0


# ------------------------------------------------------------------------------ commands


@pytest.mark.parametrize(
    "frame",
    [
        p.discovery_request(0),
        p.set_work_mode_request(5),
        p.enable_imu_request(6, False),
        p.set_point_data_type_request(65535, 3),
        p.set_host_endpoints_request(9, "127.0.0.1", state=(1, 2), point=(3, 4), imu=(5, 6)),
        p.query_request(0xDEADBEEF, [p.ParamKey.SN, p.ParamKey.CUR_WORK_STATE]),
        p.push_message(3, {p.ParamKey.WORK_MODE: b"\x01"}),
    ],
)
def test_command_round_trip(frame: p.CommandFrame) -> None:
    buf = p.encode_command(frame)
    assert len(buf) == struct.unpack_from("<H", buf, 2)[0] == 24 + len(frame.data)
    assert p.decode_command(buf) == frame


def test_command_errors() -> None:
    good = p.encode_command(p.set_work_mode_request(1))
    with pytest.raises(p.TruncatedError):
        p.decode_command(good[:23])
    with pytest.raises(p.OversizedError):
        p.decode_command(good + bytes(p.MAX_COMMAND_FRAME_SIZE))
    assert issubclass(p.OversizedError, p.BadFrameError)
    with pytest.raises(p.BadFrameError):
        p.decode_command(b"\x55" + good[1:])
    with pytest.raises(p.CrcError):
        p.decode_command(good[:5] + bytes([good[5] ^ 1]) + good[6:])  # header bit flip
    with pytest.raises(p.CrcError):
        p.decode_command(good[:-1] + bytes([good[-1] ^ 1]))  # data bit flip
    with pytest.raises(p.TruncatedError):  # a consistent header, data cut short
        p.decode_command(good[:-2])
    with pytest.raises(p.BadFrameError):  # trailing bytes
        p.decode_command(good + b"\0")

    def with_header(**fields: int) -> bytes:
        head = bytearray(good[:18])
        if "length" in fields:
            struct.pack_into("<H", head, 2, fields["length"])
        if "version" in fields:
            head[1] = fields["version"]
        crc = struct.pack("<H", p.crc16_ccitt_false(bytes(head)))
        return bytes(head) + crc + good[20:]

    with pytest.raises(p.BadFrameError):
        p.decode_command(with_header(length=10))
    with pytest.raises(p.BadFrameError):
        p.decode_command(with_header(version=1))
    with pytest.raises(p.TruncatedError):
        p.decode_command(with_header(length=len(good) + 4))


def test_split_command_frames_resynchronises() -> None:
    a = p.encode_command(p.query_request(1, [0x8000]))
    b = p.encode_command(p.set_work_mode_request(2))
    c = p.encode_command(p.discovery_request(3))
    stream = b"\x00\xaa\x13junk" + a + b"\xaa" + b + c[:10]
    frames, rest = p.split_command_frames(stream)
    assert [p.decode_command(f) for f in frames] == [p.decode_command(a), p.decode_command(b)]
    assert rest == c[:10]
    frames, rest = p.split_command_frames(rest + c[10:])
    assert frames == [c] and rest == b""


def test_key_value_lists_and_payloads() -> None:
    items = {0x0000: b"\x01", 0x001A: b"\x01", 0x0006: p.encode_host_ip_value("127.0.0.1", 1, 2)}
    data = p.encode_kv(items)
    assert data[:4] == struct.pack("<HH", 3, 0)  # key_num, rsvd
    assert p.decode_kv(data) == items
    with pytest.raises(p.TruncatedError):
        p.decode_kv(data[:-1])
    assert p.decode_query_keys(p.encode_query_keys([0x8000, 0x8006])) == [0x8000, 0x8006]
    ack = p.encode_query_ack_data(0, {0x8010: b"\x01"})
    assert ack[:3] == bytes([0, 1, 0])  # ret_code, key_num (no rsvd)
    assert p.decode_query_ack_data(ack) == (0, {0x8010: b"\x01"})
    assert p.decode_set_ack_data(p.encode_set_ack_data(0x03, 0x001A)) == (3, 0x001A)
    ep = p.decode_host_ip_value(p.encode_host_ip_value("127.1.2.3", 56301, 56300))
    assert ep == p.HostEndpoint("127.1.2.3", 56301, 56300)
    assert p.encode_host_ip_value("127.1.2.3", 56301, 56300)[:4] == bytes([127, 1, 2, 3])
    info = p.DiscoveryInfo(0, 9, "47MDL9T0020193", "127.0.0.2", 56100)
    raw = p.encode_discovery_ack_data(info)
    assert len(raw) == 24 and raw[1] == 9 and raw[18:22] == bytes([127, 0, 0, 2])
    assert p.decode_discovery_ack_data(raw) == info


def test_builders_match_the_sdk_layout() -> None:
    """Byte layouts the official SDK sends (command_impl.cpp / build_request.cpp)."""
    assert p.set_point_data_type_request(1, 1).data == bytes.fromhex("0100 0000 0000 0100 01")
    assert p.set_work_mode_request(1).data == bytes.fromhex("0100 0000 1a00 0100 01")
    assert p.enable_imu_request(1).data == bytes.fromhex("0100 0000 1c00 0100 01")
    assert p.query_request(1, [0x8010]).data == bytes.fromhex("0100 0000 1080")
    req = p.set_host_endpoints_request(1, "127.0.0.1", point=(56301, 56300))
    assert req.data == bytes.fromhex("0100 0000 0600 0800 7f000001 eddb ecdb")
    ack = p.set_params_ack(req, 0, 0)
    assert (ack.seq, ack.cmd_id, ack.cmd_type, ack.sender_type) == (1, 0x0100, 1, 1)


# ------------------------------------------------------------------------------ data packets


@pytest.mark.parametrize(
    ("data_type", "size", "tol_m"),
    [(1, 1380, 0.5e-3 + 1e-5), (2, 804, 5e-3 + 1e-5), (3, 996, None)],
)
def test_point_round_trip(data_type: int, size: int, tol_m: float | None) -> None:
    xyz = _points(96, seed=data_type, r_max=60.0 if data_type != 2 else 300.0)
    xyz[10] = 0.0  # an empty return
    refl = np.arange(96, dtype=np.uint8)
    tag = (np.arange(96) % 3).astype(np.uint8)
    pkt = p.encode_point_packet(
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
    d = p.decode_points(pkt)
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
    rec = np.zeros(4, dtype=p.SPHERICAL_POINT)
    rec["depth"] = [1000, 2000, 3000, 4000]
    rec["theta"] = [9000, 9000, 0, 4500]
    rec["phi"] = [0, 9000, 1234, 18000]
    pkt = (
        struct.pack("<BHHHHBBB12sIQ", 0, 36 + rec.nbytes, 0, 4, 0, 0, 3, 0, bytes(12), 0, 0)
        + rec.tobytes()
    )
    d = p.decode_points(pkt)
    s = np.sqrt(0.5)
    expected = [[1, 0, 0], [0, 2, 0], [0, 0, 3], [-4 * s, 0, 4 * s]]
    np.testing.assert_allclose(d.xyz_m, expected, atol=1e-6)


def test_point_interval_is_integer_as_in_the_ros_driver() -> None:
    pkt = _packet(n=96, time_interval_100ns=4801)  # 480100 ns / 96 = 5001.04 -> 5001
    d = p.decode_points(pkt)
    assert d.header.point_interval_ns == 5001
    assert d.t_ns[95] == 10**12 + 95 * 5001


def test_imu_units() -> None:
    pkt = p.encode_imu_packet([0.1, -0.2, 0.3], [0.0, 0.5, 1.0], timestamp_ns=42, udp_cnt=9)
    assert len(pkt) == 60
    d = p.decode_imu(pkt)
    assert d.t_ns == 42 and d.header.udp_cnt == 9 and d.header.data_type == 0
    np.testing.assert_allclose(d.gyro_radps, [0.1, -0.2, 0.3], rtol=1e-7)
    np.testing.assert_array_equal(d.acc_g, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(d.acc_mps2, [0.0, 0.5 * 9.80665, 9.80665])
    with pytest.raises(p.BadFrameError):
        p.decode_imu(_packet())
    with pytest.raises(p.BadFrameError):
        p.decode_points(pkt)


def test_data_packet_errors() -> None:
    good = _packet()
    with pytest.raises(p.TruncatedError):
        p.decode_points(good[:35])
    with pytest.raises(p.TruncatedError):
        p.decode_points(good[:-1])
    with pytest.raises(p.BadFrameError):
        p.decode_points(good + b"\0")
    with pytest.raises(p.OversizedError):
        p.decode_points(good + bytes(200))
    with pytest.raises(p.UnknownDataTypeError):
        p.decode_points(good[:10] + b"\x07" + good[11:])
    bad_count = bytearray(good)
    struct.pack_into("<H", bad_count, 5, 95)
    with pytest.raises(p.BadFrameError):
        p.decode_points(bytes(bad_count))
    big_ts = bytearray(good)
    struct.pack_into("<Q", big_ts, 28, 1 << 63)
    with pytest.raises(p.BadFrameError):
        p.decode_points(bytes(big_ts))
    empty = p.encode_point_packet(
        np.zeros((0, 3)), timestamp_ns=5, time_interval_100ns=0, udp_cnt=0
    )
    assert len(empty) == 36 and len(p.decode_points(empty)) == 0


def test_batch_decoder_matches_single_packets() -> None:
    packets = [
        _packet(1, 96, seed=1, udp_cnt=1),
        _packet(2, 96, seed=2, udp_cnt=2),
        _packet(1, 50, seed=3, udp_cnt=3),
        _packet(3, 96, seed=4, udp_cnt=4),
        _packet(1, 96, seed=5, udp_cnt=5, timestamp_ns=2 * 10**12),
    ]
    singles = [p.decode_points(x) for x in packets]
    for batch in (p.decode_point_packets(packets), p.decode_point_packets(b"".join(packets))):
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
    with pytest.raises(p.TruncatedError):
        p.decode_point_packets(packets)
    batch = p.decode_point_packets(packets, errors="skip")
    assert [i for i, _ in batch.errors] == [1, 2, 3]
    assert [e.kind for _, e in batch.errors] == ["truncated", "unknown_data_type", "oversized"]
    np.testing.assert_array_equal(batch.source_index, [0, 4])
    assert len(batch) == 192
    with pytest.raises(p.TruncatedError):
        p.decode_point_packets(good + good[:100])
    assert len(p.decode_point_packets([])) == 0


# ------------------------------------------------------------------------------ fuzzing


def _only_protocol_errors(fn, data: bytes) -> None:
    with contextlib.suppress(p.ProtocolError):
        fn(data)


DECODERS = [
    p.decode_command,
    p.decode_kv,
    p.decode_query_keys,
    p.decode_query_ack_data,
    p.decode_set_ack_data,
    p.decode_host_ip_value,
    p.decode_discovery_ack_data,
    p.parse_data_header,
    p.decode_points,
    p.decode_imu,
    p.decode_point_packets,
    lambda b: p.decode_point_packets([b, b[:40], b], errors="skip"),
    p.split_data_packets,
    p.split_command_frames,
]


@FUZZ
@given(st.binary(max_size=1600))
def test_random_bytes_raise_only_protocol_errors(data: bytes) -> None:
    for fn in DECODERS:
        _only_protocol_errors(fn, data)


VALID = [
    p.encode_command(p.set_host_endpoints_request(1, "127.0.0.1", point=(1, 2), imu=(3, 4))),
    p.encode_command(p.query_ack(p.query_request(1, [0x8000]), 0, {0x8000: b"x" * 16})),
    p.encode_command(
        p.discovery_ack(p.discovery_request(0), p.DiscoveryInfo(0, 9, "SN", "127.0.0.2", 1))
    ),
    _packet(1),
    _packet(2, 17),
    _packet(3, 96),
    p.encode_imu_packet([1, 2, 3], [0, 0, 1], timestamp_ns=1, udp_cnt=1),
]


@FUZZ
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(0, 1499), st.integers(0, 255)), max_size=6),
    st.integers(0, 1500),
    st.binary(max_size=64),
)
def test_mutated_frames_raise_only_protocol_errors(
    valid: bytes, flips: list[tuple[int, int]], cut: int, tail: bytes
) -> None:
    buf = bytearray(valid)
    for pos, val in flips:
        if pos < len(buf):
            buf[pos] = val
    for data in (bytes(buf), bytes(buf[:cut]), bytes(buf) + tail):
        for fn in DECODERS:
            _only_protocol_errors(fn, data)


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
    pkt = p.encode_point_packet(
        xyz,
        None,
        None,
        timestamp_ns=ts,
        time_interval_100ns=interval,
        udp_cnt=seed,
        data_type=data_type,
    )
    d = p.decode_points(pkt)
    assert len(d) == n and d.header.udp_cnt == seed & 0xFFFF
    if n:
        assert d.t_ns[0] == ts and np.all(np.diff(d.t_ns) == interval * 100 // n)
        tol = 0.006 if data_type == 2 else 0.012  # 60 m * 0.01 deg = 10.5 mm
        assert np.abs(d.xyz_m - xyz).max() < tol
