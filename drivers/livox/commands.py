"""What the Livox SDK2 commands carry: parameter keys and values, payloads, builders.

The parameter keys, work modes and states and the ACK return codes (livox_lidar_def.h);
the key-value lists of set/query/push (u16 key, u16 length, value), the query and set ACKs,
the host-endpoint values and the discovery ACK, each with a pure encoder and decoder that
raises only :class:`~drivers.livox.errors.ProtocolError` subclasses; and builders of the
host's requests and of the lidar's ACKs and push messages (for the emulator). The frames
around these are :mod:`drivers.livox.command_frame`. Little-endian, packed.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv4Address

from drivers.livox.command_frame import CmdId, CmdType, CommandFrame, Sender
from drivers.livox.errors import BadFrameError, TruncatedError

DEVICE_TYPE_MID360 = 9


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
