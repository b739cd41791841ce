"""Tests of command frames, their framing in a stream, key-value lists and the builders."""

from __future__ import annotations

import struct

import pytest

from drivers.livox.command_frame import (
    MAX_COMMAND_FRAME_SIZE,
    CommandFrame,
    decode_command,
    encode_command,
)
from drivers.livox.commands import (
    DiscoveryInfo,
    HostEndpoint,
    ParamKey,
    decode_discovery_ack_data,
    decode_host_ip_value,
    decode_kv,
    decode_query_ack_data,
    decode_query_keys,
    decode_set_ack_data,
    discovery_request,
    enable_imu_request,
    encode_discovery_ack_data,
    encode_host_ip_value,
    encode_kv,
    encode_query_ack_data,
    encode_query_keys,
    encode_set_ack_data,
    push_message,
    query_request,
    set_host_endpoints_request,
    set_params_ack,
    set_point_data_type_request,
    set_work_mode_request,
)
from drivers.livox.crc import crc16_ccitt_false
from drivers.livox.errors import BadFrameError, CrcError, OversizedError, TruncatedError
from drivers.livox.framing import split_command_frames


@pytest.mark.parametrize(
    "frame",
    [
        discovery_request(0),
        set_work_mode_request(5),
        enable_imu_request(6, False),
        set_point_data_type_request(65535, 3),
        set_host_endpoints_request(9, "127.0.0.1", state=(1, 2), point=(3, 4), imu=(5, 6)),
        query_request(0xDEADBEEF, [ParamKey.SN, ParamKey.CUR_WORK_STATE]),
        push_message(3, {ParamKey.WORK_MODE: b"\x01"}),
    ],
)
def test_command_round_trip(frame: CommandFrame) -> None:
    buf = encode_command(frame)
    assert len(buf) == struct.unpack_from("<H", buf, 2)[0] == 24 + len(frame.data)
    assert decode_command(buf) == frame


def test_command_errors() -> None:
    good = encode_command(set_work_mode_request(1))
    with pytest.raises(TruncatedError):
        decode_command(good[:23])
    with pytest.raises(OversizedError):
        decode_command(good + bytes(MAX_COMMAND_FRAME_SIZE))
    assert issubclass(OversizedError, BadFrameError)
    with pytest.raises(BadFrameError):
        decode_command(b"\x55" + good[1:])
    with pytest.raises(CrcError):
        decode_command(good[:5] + bytes([good[5] ^ 1]) + good[6:])  # header bit flip
    with pytest.raises(CrcError):
        decode_command(good[:-1] + bytes([good[-1] ^ 1]))  # data bit flip
    with pytest.raises(TruncatedError):  # a consistent header, data cut short
        decode_command(good[:-2])
    with pytest.raises(BadFrameError):  # trailing bytes
        decode_command(good + b"\0")

    def with_header(**fields: int) -> bytes:
        head = bytearray(good[:18])
        if "length" in fields:
            struct.pack_into("<H", head, 2, fields["length"])
        if "version" in fields:
            head[1] = fields["version"]
        crc = struct.pack("<H", crc16_ccitt_false(bytes(head)))
        return bytes(head) + crc + good[20:]

    with pytest.raises(BadFrameError):
        decode_command(with_header(length=10))
    with pytest.raises(BadFrameError):
        decode_command(with_header(version=1))
    with pytest.raises(TruncatedError):
        decode_command(with_header(length=len(good) + 4))


def test_split_command_frames_resynchronises() -> None:
    a = encode_command(query_request(1, [0x8000]))
    b = encode_command(set_work_mode_request(2))
    c = encode_command(discovery_request(3))
    stream = b"\x00\xaa\x13junk" + a + b"\xaa" + b + c[:10]
    frames, rest = split_command_frames(stream)
    assert [decode_command(f) for f in frames] == [decode_command(a), decode_command(b)]
    assert rest == c[:10]
    frames, rest = split_command_frames(rest + c[10:])
    assert frames == [c] and rest == b""


def test_key_value_lists_and_payloads() -> None:
    items = {0x0000: b"\x01", 0x001A: b"\x01", 0x0006: encode_host_ip_value("127.0.0.1", 1, 2)}
    data = encode_kv(items)
    assert data[:4] == struct.pack("<HH", 3, 0)  # key_num, rsvd
    assert decode_kv(data) == items
    with pytest.raises(TruncatedError):
        decode_kv(data[:-1])
    assert decode_query_keys(encode_query_keys([0x8000, 0x8006])) == [0x8000, 0x8006]
    ack = encode_query_ack_data(0, {0x8010: b"\x01"})
    assert ack[:3] == bytes([0, 1, 0])  # ret_code, key_num (no rsvd)
    assert decode_query_ack_data(ack) == (0, {0x8010: b"\x01"})
    assert decode_set_ack_data(encode_set_ack_data(0x03, 0x001A)) == (3, 0x001A)
    ep = decode_host_ip_value(encode_host_ip_value("127.1.2.3", 56301, 56300))
    assert ep == HostEndpoint("127.1.2.3", 56301, 56300)
    assert encode_host_ip_value("127.1.2.3", 56301, 56300)[:4] == bytes([127, 1, 2, 3])
    info = DiscoveryInfo(0, 9, "47MDL9T0020193", "127.0.0.2", 56100)
    raw = encode_discovery_ack_data(info)
    assert len(raw) == 24 and raw[1] == 9 and raw[18:22] == bytes([127, 0, 0, 2])
    assert decode_discovery_ack_data(raw) == info


def test_builders_match_the_sdk_layout() -> None:
    """Byte layouts the official SDK sends (command_impl.cpp / build_request.cpp)."""
    assert set_point_data_type_request(1, 1).data == bytes.fromhex("0100 0000 0000 0100 01")
    assert set_work_mode_request(1).data == bytes.fromhex("0100 0000 1a00 0100 01")
    assert enable_imu_request(1).data == bytes.fromhex("0100 0000 1c00 0100 01")
    assert query_request(1, [0x8010]).data == bytes.fromhex("0100 0000 1080")
    req = set_host_endpoints_request(1, "127.0.0.1", point=(56301, 56300))
    assert req.data == bytes.fromhex("0100 0000 0600 0800 7f000001 eddb ecdb")
    ack = set_params_ack(req, 0, 0)
    assert (ack.seq, ack.cmd_id, ack.cmd_type, ack.sender_type) == (1, 0x0100, 1, 1)
