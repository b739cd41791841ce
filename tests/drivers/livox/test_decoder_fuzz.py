"""Fuzzing every Livox decoder: any bytes raise a ProtocolError subclass or nothing."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from drivers.livox.command_frame import decode_command, encode_command
from drivers.livox.commands import (
    DiscoveryInfo,
    decode_discovery_ack_data,
    decode_host_ip_value,
    decode_kv,
    decode_query_ack_data,
    decode_query_keys,
    decode_set_ack_data,
    discovery_ack,
    discovery_request,
    query_ack,
    query_request,
    set_host_endpoints_request,
)
from drivers.livox.errors import ProtocolError
from drivers.livox.framing import split_command_frames, split_data_packets
from drivers.livox.packet_batch import decode_point_packets
from drivers.livox.packet_encode import encode_imu_packet
from drivers.livox.packets import decode_imu, decode_points, parse_data_header

from .codec_data import FUZZ, _packet


def _only_protocol_errors(fn, data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        fn(data)


DECODERS = [
    decode_command,
    decode_kv,
    decode_query_keys,
    decode_query_ack_data,
    decode_set_ack_data,
    decode_host_ip_value,
    decode_discovery_ack_data,
    parse_data_header,
    decode_points,
    decode_imu,
    decode_point_packets,
    lambda b: decode_point_packets([b, b[:40], b], errors="skip"),
    split_data_packets,
    split_command_frames,
]


@FUZZ
@given(st.binary(max_size=1600))
def test_random_bytes_raise_only_protocol_errors(data: bytes) -> None:
    for fn in DECODERS:
        _only_protocol_errors(fn, data)


VALID = [
    encode_command(set_host_endpoints_request(1, "127.0.0.1", point=(1, 2), imu=(3, 4))),
    encode_command(query_ack(query_request(1, [0x8000]), 0, {0x8000: b"x" * 16})),
    encode_command(discovery_ack(discovery_request(0), DiscoveryInfo(0, 9, "SN", "127.0.0.2", 1))),
    _packet(1),
    _packet(2, 17),
    _packet(3, 96),
    encode_imu_packet([1, 2, 3], [0, 0, 1], timestamp_ns=1, udp_cnt=1),
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
