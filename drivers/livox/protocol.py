"""Livox SDK2 wire protocol (Mid-360): a pure codec, no sockets.

Two protocols share the UDP ports (Livox-SDK2 include/livox_lidar_def.h, sdk_core/comm/define.h,
sdk_core/comm/sdk_protocol.cpp, sdk_core/command_handler/*.cpp; livox_ros_driver2
src/comm/pub_handler.cpp):

* command frames (discovery, set/query parameters, push messages, their ACKs): a 24-byte header
  with a CRC-16/CCITT-FALSE over its first 18 bytes and a CRC-32 over the data;
* data packets (points, IMU): a 36-byte header and a payload of fixed-size records.

As in pyubx2, finding frame boundaries (:func:`split_command_frames`, :func:`split_data_packets`)
is kept apart from decoding one frame (:func:`decode_command`, :func:`decode_points`,
:func:`decode_imu`), and decoders are pure functions that raise a :class:`ProtocolError`
subclass on bad input, never anything else. All fields are little-endian and packed.
"""

from __future__ import annotations

import socket
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from functools import lru_cache
from ipaddress import IPv4Address
from typing import Literal

import numpy as np

# --------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------

SOF = 0xAA
COMMAND_VERSION = 0
CMD_HEADER_SIZE = 24
CMD_HEADER_CRC_SPAN = 18  # crc16 covers bytes 0..17
MAX_COMMAND_FRAME_SIZE = 1400  # kMaxCommandBufferSize in sdk_core/comm/define.h

DATA_HEADER_SIZE = 36
MAX_DATA_PACKET_SIZE = 1472  # largest UDP payload in one 1500-byte Ethernet frame
POINTS_PER_PACKET = 96  # Mid-360
LINES = 4  # Mid-360 laser channels: the line of point i of a packet is i % 4
IMU_PAYLOAD_SIZE = 24
STANDARD_GRAVITY_MPS2 = 9.80665  # the IMU reports acceleration in g; 1 g = 9.80665 m/s^2
MAX_TIME_INTERVAL = 0xFFFF  # u16, unit 0.1 us

DEVICE_TYPE_MID360 = 9


class CmdId(IntEnum):
    DISCOVERY = 0x0000
    SET_PARAMS = 0x0100  # kCommandIDLidarWorkModeControl
    QUERY_PARAMS = 0x0101  # kCommandIDLidarGetInternalInfo
    PUSH = 0x0102
    REBOOT = 0x0200
    RESET = 0x0201
    PPS_SYNC = 0x0202


class CmdType(IntEnum):
    REQUEST = 0
    ACK = 1


class Sender(IntEnum):
    HOST = 0
    LIDAR = 1


class ParamKey(IntEnum):
    """Keys of the set/query/push key-value lists (ParamKeyName in livox_lidar_def.h)."""

    PCL_DATA_TYPE = 0x0000
    PATTERN_MODE = 0x0001
    DUAL_EMIT_EN = 0x0002
    POINT_SEND_EN = 0x0003
    LIDAR_IP_CFG = 0x0004
    STATE_INFO_HOST_IP_CFG = 0x0005  # where push messages go
    POINT_DATA_HOST_IP_CFG = 0x0006
    IMU_DATA_HOST_IP_CFG = 0x0007
    CTL_HOST_IP_CFG = 0x0008
    LOG_HOST_IP_CFG = 0x0009
    INSTALL_ATTITUDE = 0x0012
    BLIND_SPOT_SET = 0x0013
    WORK_MODE = 0x001A
    GLASS_HEAT = 0x001B
    IMU_DATA_EN = 0x001C
    SN = 0x8000
    PRODUCT_INFO = 0x8001
    VERSION_APP = 0x8002
    VERSION_LOADER = 0x8003
    VERSION_HARDWARE = 0x8004
    MAC = 0x8005
    CUR_WORK_STATE = 0x8006
    CORE_TEMP = 0x8007
    POWER_UP_CNT = 0x8008
    LOCAL_TIME_NOW = 0x8009
    LAST_SYNC_TIME = 0x800A
    TIME_OFFSET = 0x800B
    TIME_SYNC_TYPE = 0x800C
    STATUS_CODE = 0x800D
    LIDAR_DIAG_STATUS = 0x800E
    FW_TYPE = 0x8010  # 1 = application firmware, 0 = loader


class WorkMode(IntEnum):
    """Target work mode, key 0x001A (LivoxLidarWorkMode)."""

    NORMAL = 0x01
    WAKE_UP = 0x02
    SLEEP = 0x03
    ERROR = 0x04
    POWER_ON_SELF_TEST = 0x05
    MOTOR_STARTING = 0x06
    MOTOR_STOPPING = 0x07
    UPGRADE = 0x08


class WorkState(IntEnum):
    """Current work state, key 0x8006 (Livox Mid-360 protocol document)."""

    SAMPLING = 0x01
    IDLE = 0x02
    ERROR = 0x04
    SELF_CHECK = 0x05
    MOTOR_STARTUP = 0x06
    UPGRADE = 0x08
    READY = 0x09


class RetCode(IntEnum):
    """ACK return codes (Livox Mid-360 protocol document, 'Return Code Description')."""

    SUCCESS = 0x00
    FAILURE = 0x01
    NOT_PERMIT_NOW = 0x02
    OUT_OF_RANGE = 0x03
    PARAM_NOT_SUPPORTED = 0x20
    PARAM_REBOOT_EFFECT = 0x21
    PARAM_READ_ONLY = 0x22
    PARAM_INVALID_LENGTH = 0x23
    PARAM_KEY_NUM_ERROR = 0x24


class DataType(IntEnum):
    IMU = 0
    CARTESIAN_HIGH = 1  # i32 x, y, z in mm
    CARTESIAN_LOW = 2  # i16 x, y, z in cm
    SPHERICAL = 3  # u32 depth mm, u16 theta, u16 phi in 0.01 deg


class TimeType(IntEnum):
    NO_SYNC = 0  # the lidar's own clock (time since power-on)
    PTP = 1  # PTP / gPTP
    GPS = 2


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class ProtocolError(ValueError):
    """Bad input to a decoder. Decoders raise only subclasses of this."""

    kind = "bad_frame"  # the counter a receiver files it under


class TruncatedError(ProtocolError):
    """Fewer bytes than the frame says it has (or than any frame can have)."""

    kind = "truncated"


class CrcError(ProtocolError):
    """A checksum does not match."""

    kind = "crc"


class BadFrameError(ProtocolError):
    """Structurally wrong: bad start byte, version, length field, counts or values."""

    kind = "bad_frame"


class OversizedError(BadFrameError):
    """Longer than any valid frame of its kind."""

    kind = "oversized"


class UnknownDataTypeError(ProtocolError):
    """A data packet whose data_type is none of 0 (IMU), 1, 2, 3 (points)."""

    kind = "unknown_data_type"


# --------------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------------


def _crc16_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC16_TABLE = _crc16_table()


def crc16_ccitt_false(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor."""
    crc = 0xFFFF
    table = _CRC16_TABLE
    for b in bytes(data):
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ b]
    return crc


def crc32(data: bytes | bytearray | memoryview) -> int:
    """The standard CRC-32 (zlib / IEEE 802.3)."""
    return zlib.crc32(data) & 0xFFFFFFFF


# --------------------------------------------------------------------------------------------
# Command frames
# --------------------------------------------------------------------------------------------

_CMD_HEADER = struct.Struct("<BBHIHBB6sHI")  # sof, ver, length, seq, cmd_id, type, sender, rsvd,
assert _CMD_HEADER.size == CMD_HEADER_SIZE  # crc16, crc32


@dataclass(frozen=True, slots=True)
class CommandFrame:
    seq: int  # u32 on the wire; the SDK uses 16-bit sequence numbers
    cmd_id: int
    cmd_type: int  # CmdType
    sender_type: int  # Sender
    data: bytes = b""


def encode_command(frame: CommandFrame) -> bytes:
    """A command frame's bytes (header with both CRCs, then data)."""
    length = CMD_HEADER_SIZE + len(frame.data)
    if length > MAX_COMMAND_FRAME_SIZE:
        raise ValueError(f"command frame of {length} bytes exceeds {MAX_COMMAND_FRAME_SIZE}")
    head = struct.pack(
        "<BBHIHBB6s",
        SOF,
        COMMAND_VERSION,
        length,
        frame.seq & 0xFFFFFFFF,
        frame.cmd_id,
        frame.cmd_type,
        frame.sender_type,
        b"\0" * 6,
    )
    crc_d = crc32(frame.data) if frame.data else 0
    return head + struct.pack("<HI", crc16_ccitt_false(head), crc_d) + bytes(frame.data)


def decode_command(buf: bytes | bytearray | memoryview) -> CommandFrame:
    """One command frame from exactly its bytes (one UDP datagram).

    Raises TruncatedError (short), OversizedError (too long), BadFrameError (start byte,
    version, length field) or CrcError (header crc16 or data crc32).
    """
    buf = bytes(buf)
    if len(buf) < CMD_HEADER_SIZE:
        raise TruncatedError(f"command frame of {len(buf)} bytes, header needs {CMD_HEADER_SIZE}")
    if len(buf) > MAX_COMMAND_FRAME_SIZE:
        raise OversizedError(f"command frame of {len(buf)} bytes > {MAX_COMMAND_FRAME_SIZE}")
    sof, version, length, seq, cmd_id, cmd_type, sender, _rsvd, crc_h, crc_d = (
        _CMD_HEADER.unpack_from(buf)
    )
    if sof != SOF:
        raise BadFrameError(f"start byte 0x{sof:02X}, expected 0x{SOF:02X}")
    if crc16_ccitt_false(buf[:CMD_HEADER_CRC_SPAN]) != crc_h:
        raise CrcError("command header crc16 mismatch")
    if version != COMMAND_VERSION:
        raise BadFrameError(f"command protocol version {version}, expected {COMMAND_VERSION}")
    if length < CMD_HEADER_SIZE:
        raise BadFrameError(f"length field {length} < header size {CMD_HEADER_SIZE}")
    if length > len(buf):
        raise TruncatedError(f"length field {length} > {len(buf)} bytes received")
    if length < len(buf):
        raise BadFrameError(f"{len(buf) - length} bytes after the frame's {length}")
    data = buf[CMD_HEADER_SIZE:length]
    if (crc32(data) if data else 0) != crc_d:
        raise CrcError("command data crc32 mismatch")
    return CommandFrame(seq, cmd_id, cmd_type, sender, data)


def split_command_frames(stream: bytes | bytearray | memoryview) -> tuple[list[bytes], bytes]:
    """Frame boundaries in a byte stream: (complete frames, the unconsumed tail).

    Scans for the start byte, checks the header crc16 (so a stray 0xAA in garbage does not
    resynchronise on a wrong length), and cuts by the length field. Garbage is skipped. The
    frames are only delimited here: decode each with decode_command.
    """
    buf = bytes(stream)
    frames: list[bytes] = []
    i = 0
    n = len(buf)
    while True:
        j = buf.find(SOF, i)
        if j < 0:
            return frames, b""
        if n - j < CMD_HEADER_SIZE:
            return frames, buf[j:]
        crc_h = int.from_bytes(buf[j + 18 : j + 20], "little")
        length = int.from_bytes(buf[j + 2 : j + 4], "little")
        if (
            crc16_ccitt_false(buf[j : j + CMD_HEADER_CRC_SPAN]) != crc_h
            or not CMD_HEADER_SIZE <= length <= MAX_COMMAND_FRAME_SIZE
        ):
            i = j + 1
            continue
        if n - j < length:
            return frames, buf[j:]
        frames.append(buf[j : j + length])
        i = j + length


# --------------------------------------------------------------------------------------------
# Key-value lists and the payloads of the commands
# --------------------------------------------------------------------------------------------


def encode_kv(items: Mapping[int, bytes]) -> bytes:
    """u16 key_num, u16 rsvd, then per item u16 key, u16 length, value (set / push data)."""
    out = [struct.pack("<HH", len(items), 0)]
    for key, value in items.items():
        out.append(struct.pack("<HH", key, len(value)))
        out.append(bytes(value))
    return b"".join(out)


def _decode_kv_items(data: bytes, offset: int, count: int) -> dict[int, bytes]:
    items: dict[int, bytes] = {}
    for _ in range(count):
        if len(data) - offset < 4:
            raise TruncatedError("key-value list ends inside an item header")
        key, length = struct.unpack_from("<HH", data, offset)
        offset += 4
        if len(data) - offset < length:
            raise TruncatedError(f"key 0x{key:04X}: value of {length} bytes is cut short")
        items[key] = data[offset : offset + length]
        offset += length
    return items  # trailing bytes are ignored, as by the SDK


def decode_kv(data: bytes | bytearray | memoryview) -> dict[int, bytes]:
    """The inverse of encode_kv. Later duplicates of a key win; trailing bytes are ignored."""
    data = bytes(data)
    if len(data) < 4:
        raise TruncatedError("key-value list shorter than its 4-byte header")
    (count,) = struct.unpack_from("<H", data)
    return _decode_kv_items(data, 4, count)


def encode_query_keys(keys: Iterable[int]) -> bytes:
    """Query (0x0101) request data: u16 key_num, u16 rsvd, then u16 keys (no values)."""
    keys = list(keys)
    return struct.pack(f"<HH{len(keys)}H", len(keys), 0, *keys)


def decode_query_keys(data: bytes | bytearray | memoryview) -> list[int]:
    data = bytes(data)
    if len(data) < 4:
        raise TruncatedError("query request shorter than its 4-byte header")
    (count,) = struct.unpack_from("<H", data)
    if len(data) < 4 + 2 * count:
        raise TruncatedError(f"query request of {count} keys is cut short")
    return list(struct.unpack_from(f"<{count}H", data, 4))


def encode_query_ack_data(ret_code: int, items: Mapping[int, bytes]) -> bytes:
    """Query ACK data: u8 ret_code, u16 key_num, then key-value items (no rsvd field)."""
    out = [struct.pack("<BH", ret_code, len(items))]
    for key, value in items.items():
        out.append(struct.pack("<HH", key, len(value)) + bytes(value))
    return b"".join(out)


def decode_query_ack_data(data: bytes | bytearray | memoryview) -> tuple[int, dict[int, bytes]]:
    data = bytes(data)
    if len(data) < 3:
        raise TruncatedError("query ACK shorter than its 3-byte header")
    ret_code, count = struct.unpack_from("<BH", data)
    return ret_code, _decode_kv_items(data, 3, count)


def encode_set_ack_data(ret_code: int, error_key: int = 0) -> bytes:
    """Set (0x0100) ACK data: u8 ret_code, u16 error_key (LivoxLidarAsyncControlResponse)."""
    return struct.pack("<BH", ret_code, error_key)


def decode_set_ack_data(data: bytes | bytearray | memoryview) -> tuple[int, int]:
    data = bytes(data)
    if len(data) < 3:
        raise TruncatedError("set ACK shorter than 3 bytes")
    return struct.unpack_from("<BH", data)  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class HostEndpoint:
    """Value of the host-ip keys 0x0005..0x0009: u8 ip[4], u16 host_port, u16 lidar_port."""

    ip: str
    host_port: int
    lidar_port: int


def encode_host_ip_value(ip: str | IPv4Address, host_port: int, lidar_port: int) -> bytes:
    return socket.inet_aton(str(ip)) + struct.pack("<HH", host_port, lidar_port)


def decode_host_ip_value(value: bytes | bytearray | memoryview) -> HostEndpoint:
    value = bytes(value)
    if len(value) < 8:
        raise TruncatedError(f"host ip value of {len(value)} bytes, expected 8")
    if len(value) > 8:
        raise BadFrameError(f"host ip value of {len(value)} bytes, expected 8")
    host_port, lidar_port = struct.unpack_from("<HH", value, 4)
    return HostEndpoint(socket.inet_ntoa(value[:4]), host_port, lidar_port)


_DISCOVERY_ACK = struct.Struct("<BB16s4sH")  # DetectionData in sdk_core/comm/define.h


@dataclass(frozen=True, slots=True)
class DiscoveryInfo:
    """Discovery ACK data: ret_code, dev_type (Mid-360 = 9), sn[16], lidar_ip[4], cmd_port."""

    ret_code: int
    dev_type: int
    serial: str
    lidar_ip: str
    cmd_port: int


def encode_discovery_ack_data(info: DiscoveryInfo) -> bytes:
    sn = info.serial.encode("ascii")
    if len(sn) > 16:
        raise ValueError(f"serial number {info.serial!r} longer than 16 bytes")
    return _DISCOVERY_ACK.pack(
        info.ret_code, info.dev_type, sn, socket.inet_aton(info.lidar_ip), info.cmd_port
    )


def decode_discovery_ack_data(data: bytes | bytearray | memoryview) -> DiscoveryInfo:
    data = bytes(data)
    if len(data) < _DISCOVERY_ACK.size:
        raise TruncatedError(f"discovery ACK of {len(data)} bytes, expected {_DISCOVERY_ACK.size}")
    ret_code, dev_type, sn, ip, port = _DISCOVERY_ACK.unpack_from(data)
    serial = sn.split(b"\0", 1)[0].decode("ascii", errors="replace")
    return DiscoveryInfo(ret_code, dev_type, serial, socket.inet_ntoa(ip), port)


# --------------------------------------------------------------------------------------------
# Request builders (host side) and ACK builders (lidar side, for the emulator)
# --------------------------------------------------------------------------------------------


def discovery_request(seq: int = 0) -> CommandFrame:
    return CommandFrame(seq, CmdId.DISCOVERY, CmdType.REQUEST, Sender.HOST)


def set_params_request(seq: int, items: Mapping[int, bytes]) -> CommandFrame:
    return CommandFrame(seq, CmdId.SET_PARAMS, CmdType.REQUEST, Sender.HOST, encode_kv(items))


def set_work_mode_request(seq: int, mode: int = WorkMode.NORMAL) -> CommandFrame:
    return set_params_request(seq, {ParamKey.WORK_MODE: bytes([mode])})


def enable_imu_request(seq: int, enabled: bool = True) -> CommandFrame:
    return set_params_request(seq, {ParamKey.IMU_DATA_EN: bytes([int(enabled)])})


def set_point_data_type_request(seq: int, data_type: int) -> CommandFrame:
    return set_params_request(seq, {ParamKey.PCL_DATA_TYPE: bytes([data_type])})


def set_host_endpoints_request(
    seq: int,
    host_ip: str | IPv4Address,
    *,
    state: tuple[int, int] | None = None,
    point: tuple[int, int] | None = None,
    imu: tuple[int, int] | None = None,
) -> CommandFrame:
    """Where the lidar sends push messages, points and IMU: (host_port, lidar_port) each."""
    items: dict[int, bytes] = {}
    for key, ports in (
        (ParamKey.STATE_INFO_HOST_IP_CFG, state),
        (ParamKey.POINT_DATA_HOST_IP_CFG, point),
        (ParamKey.IMU_DATA_HOST_IP_CFG, imu),
    ):
        if ports is not None:
            items[key] = encode_host_ip_value(host_ip, *ports)
    return set_params_request(seq, items)


def query_request(seq: int, keys: Iterable[int]) -> CommandFrame:
    return CommandFrame(
        seq, CmdId.QUERY_PARAMS, CmdType.REQUEST, Sender.HOST, encode_query_keys(keys)
    )


def ack_for(request: CommandFrame, data: bytes) -> CommandFrame:
    """The lidar's ACK to a request: same seq and cmd_id."""
    return CommandFrame(request.seq, request.cmd_id, CmdType.ACK, Sender.LIDAR, data)


def discovery_ack(request: CommandFrame, info: DiscoveryInfo) -> CommandFrame:
    return ack_for(request, encode_discovery_ack_data(info))


def set_params_ack(request: CommandFrame, ret_code: int = 0, error_key: int = 0) -> CommandFrame:
    return ack_for(request, encode_set_ack_data(ret_code, error_key))


def query_ack(request: CommandFrame, ret_code: int, items: Mapping[int, bytes]) -> CommandFrame:
    return ack_for(request, encode_query_ack_data(ret_code, items))


def push_message(seq: int, items: Mapping[int, bytes]) -> CommandFrame:
    """Lidar state push (0x0102): a request-type frame from the lidar, key-value data."""
    return CommandFrame(seq, CmdId.PUSH, CmdType.REQUEST, Sender.LIDAR, encode_kv(items))


# --------------------------------------------------------------------------------------------
# Data packets
# --------------------------------------------------------------------------------------------

DATA_HEADER = np.dtype(
    [
        ("version", "u1"),
        ("length", "<u2"),
        ("time_interval", "<u2"),  # 0.1 us
        ("dot_num", "<u2"),
        ("udp_cnt", "<u2"),
        ("frame_cnt", "u1"),
        ("data_type", "u1"),
        ("time_type", "u1"),
        ("rsvd", "u1", (12,)),
        ("crc32", "<u4"),
        ("timestamp", "<u8"),  # ns, first point
    ]
)
assert DATA_HEADER.itemsize == DATA_HEADER_SIZE

CARTESIAN_HIGH_POINT = np.dtype(
    [("x", "<i4"), ("y", "<i4"), ("z", "<i4"), ("reflectivity", "u1"), ("tag", "u1")]
)
CARTESIAN_LOW_POINT = np.dtype(
    [("x", "<i2"), ("y", "<i2"), ("z", "<i2"), ("reflectivity", "u1"), ("tag", "u1")]
)
SPHERICAL_POINT = np.dtype(
    [("depth", "<u4"), ("theta", "<u2"), ("phi", "<u2"), ("reflectivity", "u1"), ("tag", "u1")]
)
IMU_RECORD = np.dtype(
    [(f"{q}_{a}", "<f4") for q in ("gyro", "acc") for a in "xyz"]
)  # gyro rad/s, acc in g
assert IMU_RECORD.itemsize == IMU_PAYLOAD_SIZE

POINT_DTYPES: dict[int, np.dtype] = {
    DataType.CARTESIAN_HIGH: CARTESIAN_HIGH_POINT,
    DataType.CARTESIAN_LOW: CARTESIAN_LOW_POINT,
    DataType.SPHERICAL: SPHERICAL_POINT,
}
_POINT_SIZES = {k: v.itemsize for k, v in POINT_DTYPES.items()}

_DATA_HEADER = struct.Struct("<BHHHHBBB12sIQ")
assert _DATA_HEADER.size == DATA_HEADER_SIZE
_MAX_TIMESTAMP_NS = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class DataHeader:
    version: int
    length: int
    time_interval: int  # 0.1 us, from the first point to one interval past the last
    dot_num: int
    udp_cnt: int
    frame_cnt: int
    data_type: int
    time_type: int
    crc32: int
    timestamp_ns: int  # first point

    @property
    def point_interval_ns(self) -> int:
        """livox_ros_driver2's rule: time_interval * 100 / dot_num, in integer arithmetic."""
        return self.time_interval * 100 // self.dot_num if self.dot_num else 0


@dataclass(frozen=True, slots=True)
class PointPacket:
    header: DataHeader
    xyz_m: np.ndarray  # [N, 3] float32, empty (0, 0, 0) returns dropped
    reflectivity: np.ndarray  # [N] uint8
    tag: np.ndarray  # [N] uint8
    line: np.ndarray  # [N] uint8, index in packet % 4
    t_ns: np.ndarray  # [N] int64, lidar clock

    def __len__(self) -> int:
        return len(self.xyz_m)


@dataclass(frozen=True, slots=True)
class ImuPacket:
    header: DataHeader
    gyro_radps: np.ndarray  # [3] float64
    acc_g: np.ndarray  # [3] float64, as sent: in units of standard gravity
    acc_mps2: np.ndarray  # [3] float64, acc_g * 9.80665

    @property
    def t_ns(self) -> int:
        return self.header.timestamp_ns


@dataclass(frozen=True, slots=True)
class PointBatch:
    """Points of many packets, decoded together; per-packet fields in ``headers``."""

    xyz_m: np.ndarray  # [N, 3] float32
    reflectivity: np.ndarray  # [N] uint8
    tag: np.ndarray  # [N] uint8
    line: np.ndarray  # [N] uint8
    t_ns: np.ndarray  # [N] int64, lidar clock
    packet: np.ndarray  # [N] int64, row of each point's packet in ``headers``
    headers: np.ndarray  # [P] DATA_HEADER, the valid packets in input order
    source_index: np.ndarray  # [P] int64, each valid packet's position in the input
    errors: tuple[tuple[int, ProtocolError], ...] = field(default=())  # (input position, error)

    def __len__(self) -> int:
        return len(self.xyz_m)


def parse_data_header(packet: bytes | bytearray | memoryview) -> DataHeader:
    """The 36-byte header of a data packet, checked against the datagram's size.

    Checks: size within [36, MAX_DATA_PACKET_SIZE], length field == size, a known data_type,
    a payload of exactly dot_num records of that type, a timestamp below 2**63 ns.
    """
    n = len(packet)
    if n < DATA_HEADER_SIZE:
        raise TruncatedError(f"data packet of {n} bytes, header needs {DATA_HEADER_SIZE}")
    if n > MAX_DATA_PACKET_SIZE:
        raise OversizedError(f"data packet of {n} bytes > {MAX_DATA_PACKET_SIZE}")
    (ver, length, ti, dot_num, udp_cnt, frame_cnt, data_type, time_type, _rsvd, crc, ts) = (
        _DATA_HEADER.unpack_from(packet)
    )
    header = DataHeader(ver, length, ti, dot_num, udp_cnt, frame_cnt, data_type, time_type, crc, ts)
    if length > n:
        raise TruncatedError(f"length field {length} > {n} bytes received")
    if length < n:
        raise BadFrameError(f"length field {length} < {n} bytes received")
    if data_type == DataType.IMU:
        record = IMU_PAYLOAD_SIZE
    elif data_type in _POINT_SIZES:
        record = _POINT_SIZES[data_type]
    else:
        raise UnknownDataTypeError(f"data_type {data_type}")
    if dot_num * record != n - DATA_HEADER_SIZE:
        raise BadFrameError(
            f"dot_num {dot_num} x {record} B != payload of {n - DATA_HEADER_SIZE} B"
        )
    if ts > _MAX_TIMESTAMP_NS:
        raise BadFrameError(f"timestamp {ts} ns out of range")
    return header


def _xyz_from_records(pts: np.ndarray, data_type: int) -> tuple[np.ndarray, np.ndarray]:
    """(xyz_m [..., 3] float32, non-empty mask [...]) from point records of one data type."""
    if data_type == DataType.SPHERICAL:
        # livox_ros_driver2 ProcessSphericalPoint: theta from +z, phi from +x about +z
        radius_m = pts["depth"] / 1000.0
        theta = pts["theta"] / 100.0 / 180.0 * np.pi
        phi = pts["phi"] / 100.0 / 180.0 * np.pi
        sin_theta = np.sin(theta)
        xyz = np.stack(
            [
                radius_m * sin_theta * np.cos(phi),
                radius_m * sin_theta * np.sin(phi),
                radius_m * np.cos(theta),
            ],
            axis=-1,
        ).astype(np.float32)
        return xyz, pts["depth"] != 0
    scale = 1000.0 if data_type == DataType.CARTESIAN_HIGH else 100.0
    x, y, z = pts["x"], pts["y"], pts["z"]
    xyz = (np.stack([x, y, z], axis=-1) / scale).astype(np.float32)
    return xyz, (x != 0) | (y != 0) | (z != 0)


def decode_points(packet: bytes | bytearray | memoryview) -> PointPacket:
    """One point packet (data_type 1, 2 or 3): header and the non-empty points."""
    header = parse_data_header(packet)
    if header.data_type == DataType.IMU:
        raise BadFrameError("an IMU packet where points were expected")
    pts = np.frombuffer(
        packet, dtype=POINT_DTYPES[header.data_type], count=header.dot_num, offset=DATA_HEADER_SIZE
    )
    xyz, keep = _xyz_from_records(pts, header.data_type)
    i = np.arange(header.dot_num, dtype=np.int64)
    t_ns = header.timestamp_ns + i * header.point_interval_ns  # [n]
    return PointPacket(
        header=header,
        xyz_m=xyz[keep],
        reflectivity=pts["reflectivity"][keep].copy(),
        tag=pts["tag"][keep].copy(),
        line=(i % LINES).astype(np.uint8)[keep],
        t_ns=t_ns[keep],
    )


def decode_imu(packet: bytes | bytearray | memoryview) -> ImuPacket:
    """One IMU packet (data_type 0): gyro in rad/s, acceleration in g and in m/s^2."""
    header = parse_data_header(packet)
    if header.data_type != DataType.IMU:
        raise BadFrameError(f"data_type {header.data_type} where an IMU packet was expected")
    if header.dot_num != 1:
        raise BadFrameError(f"IMU packet with dot_num {header.dot_num}, expected 1")
    rec = np.frombuffer(packet, dtype=IMU_RECORD, count=1, offset=DATA_HEADER_SIZE)[0]
    gyro = np.array([rec["gyro_x"], rec["gyro_y"], rec["gyro_z"]], dtype=np.float64)
    acc_g = np.array([rec["acc_x"], rec["acc_y"], rec["acc_z"]], dtype=np.float64)
    return ImuPacket(header, gyro, acc_g, acc_g * STANDARD_GRAVITY_MPS2)


def split_data_packets(buf: bytes | bytearray | memoryview) -> list[memoryview]:
    """Packet boundaries in a concatenation of data packets, by their length fields."""
    view = memoryview(bytes(buf) if not isinstance(buf, bytes | bytearray) else buf)
    out: list[memoryview] = []
    i, n = 0, len(view)
    while i < n:
        if n - i < DATA_HEADER_SIZE:
            raise TruncatedError(f"{n - i} bytes left, a data header needs {DATA_HEADER_SIZE}")
        length = int.from_bytes(view[i + 1 : i + 3], "little")
        if length < DATA_HEADER_SIZE:
            raise BadFrameError(f"length field {length} at offset {i} < header size")
        if length > MAX_DATA_PACKET_SIZE:
            raise OversizedError(f"length field {length} at offset {i}")
        if n - i < length:
            raise TruncatedError(f"packet at offset {i} of {length} bytes is cut short")
        out.append(view[i : i + length])
        i += length
    return out


@lru_cache(maxsize=64)
def _packet_dtype(length: int, data_type: int) -> np.dtype:
    n = (length - DATA_HEADER_SIZE) // _POINT_SIZES[data_type]
    return np.dtype([("hdr", DATA_HEADER), ("pts", POINT_DTYPES[data_type], (n,))])


@lru_cache(maxsize=64)
def _raw_packet_dtype(length: int) -> np.dtype:
    return np.dtype([("hdr", DATA_HEADER), ("payload", "u1", (length - DATA_HEADER_SIZE,))])


def _check_headers(hdr: np.ndarray, size: int) -> list[ProtocolError | None]:
    """Vectorised parse_data_header checks for packets of one size: an error or None each."""
    length = hdr["length"].astype(np.int64)
    dtype = hdr["data_type"]
    record = np.zeros(len(hdr), dtype=np.int64)
    for k, s in _POINT_SIZES.items():
        record[dtype == k] = s
    bad = (
        (length != size)
        | (record == 0)
        | (hdr["dot_num"].astype(np.int64) * record != size - DATA_HEADER_SIZE)
        | (hdr["timestamp"] > _MAX_TIMESTAMP_NS)
    )
    errors: list[ProtocolError | None] = [None] * len(hdr)
    for i in np.flatnonzero(bad):
        try:  # the scalar path names the exact error
            row = hdr[i : i + 1].tobytes() + b"\0" * (size - DATA_HEADER_SIZE)
            if int(dtype[i]) == DataType.IMU and int(length[i]) == size:
                raise BadFrameError("an IMU packet where points were expected")
            parse_data_header(row)
            raise BadFrameError("bad point packet header")  # pragma: no cover
        except ProtocolError as e:
            errors[i] = e
    return errors


def decode_point_packets(
    packets: Sequence[bytes | bytearray | memoryview] | bytes | bytearray | memoryview,
    *,
    errors: Literal["raise", "skip"] = "raise",
) -> PointBatch:
    """Decode many point packets at once (a list of datagrams, or one concatenated buffer).

    Packets of equal size are decoded together with one structured numpy view; points keep
    the input's packet order. With errors="raise" the first bad packet raises its
    ProtocolError; with errors="skip" bad packets are left out and listed in ``errors``.
    """
    if isinstance(packets, bytes | bytearray | memoryview):
        packets = split_data_packets(packets)
    n_packets = len(packets)
    sizes = np.fromiter((len(p) for p in packets), dtype=np.int64, count=n_packets)
    found: list[tuple[int, ProtocolError]] = []
    parts: list[tuple[np.ndarray, np.ndarray, int]] = []  # (source index [P], records, type)

    for size in np.unique(sizes):
        idx = np.flatnonzero(sizes == size)
        size = int(size)
        if size < DATA_HEADER_SIZE or size > MAX_DATA_PACKET_SIZE:
            for i in idx:
                try:
                    parse_data_header(packets[i])
                except ProtocolError as e:
                    found.append((int(i), e))
            continue
        buf = b"".join(packets[i] for i in idx) if len(idx) > 1 else bytes(packets[idx[0]])
        raw = np.frombuffer(buf, dtype=_raw_packet_dtype(size))
        header_errors = _check_headers(raw["hdr"], size)
        ok = np.array([e is None for e in header_errors], dtype=bool)
        found.extend((int(idx[i]), e) for i, e in enumerate(header_errors) if e is not None)
        for data_type in _POINT_SIZES:
            sel = ok & (raw["hdr"]["data_type"] == data_type)
            if sel.any():
                recs = np.frombuffer(buf, dtype=_packet_dtype(size, data_type))
                parts.append((idx[sel], recs[sel] if not sel.all() else recs, data_type))

    if found and errors == "raise":
        found.sort(key=lambda x: x[0])
        raise found[0][1]
    return _assemble(parts, tuple(sorted(found, key=lambda x: x[0])))


def _assemble(
    parts: list[tuple[np.ndarray, np.ndarray, int]], found: tuple[tuple[int, ProtocolError], ...]
) -> PointBatch:
    xyz_l, refl_l, tag_l, line_l, t_l, pkt_l, hdr_l, src_l = ([] for _ in range(8))
    for source_index, recs, data_type in parts:
        hdr = recs["hdr"]  # [P]
        pts = recs["pts"]  # [P, n]
        p, n = pts.shape
        xyz, keep = _xyz_from_records(pts, data_type)  # [P, n, 3], [P, n]
        i = np.arange(n, dtype=np.int64)
        dot_num = np.maximum(hdr["dot_num"].astype(np.int64), 1)
        interval_ns = hdr["time_interval"].astype(np.int64) * 100 // dot_num  # [P]
        t_ns = hdr["timestamp"].astype(np.int64)[:, None] + i[None, :] * interval_ns[:, None]
        keep_flat = keep.reshape(-1)
        xyz_l.append(xyz.reshape(-1, 3)[keep_flat])
        refl_l.append(pts["reflectivity"].reshape(-1)[keep_flat])
        tag_l.append(pts["tag"].reshape(-1)[keep_flat])
        line_l.append(np.broadcast_to((i % LINES).astype(np.uint8), (p, n)).reshape(-1)[keep_flat])
        t_l.append(t_ns.reshape(-1)[keep_flat])
        pkt_l.append(np.repeat(source_index, n)[keep_flat])  # input positions, for now
        hdr_l.append(np.ascontiguousarray(hdr))
        src_l.append(source_index)
    if not parts:
        return PointBatch(
            xyz_m=np.zeros((0, 3), np.float32),
            reflectivity=np.zeros(0, np.uint8),
            tag=np.zeros(0, np.uint8),
            line=np.zeros(0, np.uint8),
            t_ns=np.zeros(0, np.int64),
            packet=np.zeros(0, np.int64),
            headers=np.zeros(0, DATA_HEADER),
            source_index=np.zeros(0, np.int64),
            errors=found,
        )
    source_index = np.concatenate(src_l)
    headers = np.concatenate(hdr_l)
    packet_src = np.concatenate(pkt_l)
    arrays = [np.concatenate(a) for a in (xyz_l, refl_l, tag_l, line_l, t_l)]
    if len(parts) > 1:  # restore the input's packet order
        hdr_order = np.argsort(source_index, kind="stable")
        source_index, headers = source_index[hdr_order], headers[hdr_order]
        pt_order = np.argsort(packet_src, kind="stable")
        packet_src = packet_src[pt_order]
        arrays = [a[pt_order] for a in arrays]
    packet_row = np.searchsorted(source_index, packet_src)  # input position -> header row
    xyz, refl, tag, line, t_ns = arrays
    return PointBatch(xyz, refl, tag, line, t_ns, packet_row, headers, source_index, found)


def _quantise_points(xyz_m: np.ndarray, data_type: int) -> np.ndarray:
    """Point records [N] of a data type from xyz_m [N, 3]; non-finite rows become empty."""
    xyz = np.asarray(xyz_m, dtype=np.float64).reshape(-1, 3)
    finite = np.isfinite(xyz).all(axis=1)
    xyz = np.where(finite[:, None], xyz, 0.0)
    rec = np.zeros(len(xyz), dtype=POINT_DTYPES[data_type])
    if data_type == DataType.SPHERICAL:
        r_m = np.linalg.norm(xyz, axis=1)
        depth = np.clip(np.rint(r_m * 1000.0), 0, 0xFFFFFFFF)
        with np.errstate(invalid="ignore", divide="ignore"):
            theta = np.degrees(np.arccos(np.clip(xyz[:, 2] / r_m, -1.0, 1.0)))
        theta = np.where(r_m > 0, theta, 0.0)
        phi = np.degrees(np.arctan2(xyz[:, 1], xyz[:, 0])) % 360.0
        theta_q = np.clip(np.rint(theta * 100.0), 0, 18000)
        phi_q = np.rint(phi * 100.0) % 36000
        empty = depth == 0
        rec["depth"] = depth
        rec["theta"] = np.where(empty, 0, theta_q)
        rec["phi"] = np.where(empty, 0, phi_q)
        return rec
    scale, limit = (
        (1000.0, 2**31 - 1) if data_type == DataType.CARTESIAN_HIGH else (100.0, 2**15 - 1)
    )
    q = np.clip(np.rint(xyz * scale), -limit, limit)
    rec["x"], rec["y"], rec["z"] = q[:, 0], q[:, 1], q[:, 2]
    return rec


def _pack_header(
    *,
    length: int,
    time_interval: int,
    dot_num: int,
    udp_cnt: int,
    frame_cnt: int,
    data_type: int,
    time_type: int,
    crc: int,
    timestamp_ns: int,
    version: int = 0,
) -> bytes:
    return _DATA_HEADER.pack(
        version,
        length,
        time_interval,
        dot_num,
        udp_cnt & 0xFFFF,
        frame_cnt & 0xFF,
        data_type,
        time_type,
        b"\0" * 12,
        crc,
        timestamp_ns,
    )


def encode_point_packet(
    xyz_m: np.ndarray,  # [N, 3] metres; (0, 0, 0) or non-finite = empty return
    reflectivity: np.ndarray | None = None,  # [N] uint8
    tag: np.ndarray | None = None,  # [N] uint8
    *,
    timestamp_ns: int,
    time_interval_100ns: int,
    udp_cnt: int,
    data_type: int = DataType.CARTESIAN_HIGH,
    time_type: int = TimeType.NO_SYNC,
    frame_cnt: int = 0,
) -> bytes:
    """A point packet as a lidar sends it (quantised to 1 mm, 1 cm or 1 mm / 0.01 deg).

    The crc32 field holds the CRC-32 of timestamp + payload; the SDK does not check it.
    """
    if data_type not in POINT_DTYPES:
        raise ValueError(f"data_type {data_type} is not a point type")
    if not 0 <= time_interval_100ns <= MAX_TIME_INTERVAL:
        raise ValueError(f"time_interval {time_interval_100ns} x 0.1 us does not fit in u16")
    rec = _quantise_points(xyz_m, data_type)
    n = len(rec)
    if reflectivity is not None:
        rec["reflectivity"] = reflectivity
    if tag is not None:
        rec["tag"] = tag
    payload = rec.tobytes()
    length = DATA_HEADER_SIZE + len(payload)
    if length > MAX_DATA_PACKET_SIZE:
        raise ValueError(f"{n} points make a {length}-byte packet > {MAX_DATA_PACKET_SIZE}")
    ts = struct.pack("<Q", timestamp_ns)
    return (
        _pack_header(
            length=length,
            time_interval=time_interval_100ns,
            dot_num=n,
            udp_cnt=udp_cnt,
            frame_cnt=frame_cnt,
            data_type=data_type,
            time_type=time_type,
            crc=crc32(ts + payload),
            timestamp_ns=timestamp_ns,
        )
        + payload
    )


def encode_imu_packet(
    gyro_radps: np.ndarray,  # [3]
    acc_g: np.ndarray,  # [3] in g (= m/s^2 / 9.80665), as the Mid-360 sends it
    *,
    timestamp_ns: int,
    udp_cnt: int,
    time_type: int = TimeType.NO_SYNC,
    frame_cnt: int = 0,
) -> bytes:
    rec = np.zeros(1, dtype=IMU_RECORD)
    g = np.asarray(gyro_radps, dtype=np.float64).reshape(3)
    a = np.asarray(acc_g, dtype=np.float64).reshape(3)
    for j, axis in enumerate("xyz"):
        rec[f"gyro_{axis}"] = g[j]
        rec[f"acc_{axis}"] = a[j]
    payload = rec.tobytes()
    ts = struct.pack("<Q", timestamp_ns)
    return (
        _pack_header(
            length=DATA_HEADER_SIZE + IMU_PAYLOAD_SIZE,
            time_interval=0,
            dot_num=1,
            udp_cnt=udp_cnt,
            frame_cnt=frame_cnt,
            data_type=DataType.IMU,
            time_type=time_type,
            crc=crc32(ts + payload),
            timestamp_ns=timestamp_ns,
        )
        + payload
    )
