"""MTData2, the Xsens MTi's measurement message: its items, decoded and encoded.

Pure code, as `drivers.xsens.xbus`: a payload (a frame's data) in, an `MtData2` out, typed errors
(`TruncatedError`, `BadItemError`) on bad input. The encoders serve the emulator and the tests.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from drivers.xsens.xbus import TruncatedError, XbusError


class Xdi(IntEnum):
    """MTData2 data identifiers (group and type; the low nibble holds the format bits)."""

    PACKET_COUNTER = 0x1020  # u16, +1 per MTData2 message
    SAMPLE_TIME_FINE = 0x1060  # u32, 10 kHz ticks, wraps at 2^32
    QUATERNION = 0x2010  # q0..q3 = w, x, y, z
    ACCELERATION = 0x4020  # m/s^2, sensor frame
    RATE_OF_TURN = 0x8020  # rad/s, sensor frame


class Precision(IntEnum):
    """XDI bits 0-1: how each real number is sent."""

    FLOAT32 = 0x0
    FP1220 = 0x1  # i32 / 2^20
    FP1632 = 0x2  # u32 fraction then i16 integer part (48 bits): value * 2^32
    FLOAT64 = 0x3


class CoordSystem(IntEnum):
    """XDI bits 2-3: the reference frame of orientation outputs (0xC is reserved)."""

    ENU = 0x0
    NED = 0x4
    NWU = 0x8


XDI_TYPE_MASK = 0xFFF0
XDI_PRECISION_MASK = 0x0003
XDI_COORD_MASK = 0x000C
SAMPLE_TIME_FINE_HZ = 10_000
SAMPLE_TIME_FINE_NS = 1_000_000_000 // SAMPLE_TIME_FINE_HZ  # 100 us per tick
SAMPLE_TIME_FINE_MODULUS = 1 << 32
PACKET_COUNTER_MODULUS = 1 << 16

_WIDTH_BYTES = {
    Precision.FLOAT32: 4,
    Precision.FP1220: 4,
    Precision.FP1632: 6,
    Precision.FLOAT64: 8,
}
_REAL_COUNTS = {int(Xdi.ACCELERATION): 3, int(Xdi.RATE_OF_TURN): 3, int(Xdi.QUATERNION): 4}
_FP1632 = np.dtype([("frac", ">u4"), ("int", ">i2")])


class BadItemError(XbusError):
    """An MTData2 item whose size or format does not fit its data identifier."""


@dataclass(frozen=True, slots=True, eq=False)
class MtData2:
    """The items of one MTData2 message that the driver uses; None where absent.

    Arrays are float64, read-only. Acceleration and rate of turn are in the sensor frame;
    the quaternion rotates sensor to `quat_frame` (ENU unless the XDI asked otherwise).
    """

    sample_time_fine: int | None = None  # 10 kHz ticks, wraps at 2^32
    packet_counter: int | None = None  # u16
    accel_mps2: np.ndarray | None = None  # [3]
    gyro_radps: np.ndarray | None = None  # [3]
    quat_wxyz: np.ndarray | None = None  # [4]
    quat_frame: CoordSystem | None = None
    skipped_xdis: tuple[int, ...] = ()  # items present but not decoded here


def _decode_reals(xdi: int, payload: bytes, count: int) -> np.ndarray:
    precision = Precision(xdi & XDI_PRECISION_MASK)
    want = count * _WIDTH_BYTES[precision]
    if len(payload) != want:
        raise BadItemError(
            f"XDI 0x{xdi:04X} ({precision.name}) holds {len(payload)} bytes, want {want}"
        )
    if precision is Precision.FLOAT32:
        out = np.frombuffer(payload, dtype=">f4").astype(np.float64)
    elif precision is Precision.FLOAT64:
        out = np.frombuffer(payload, dtype=">f8").astype(np.float64)
    elif precision is Precision.FP1220:
        out = np.frombuffer(payload, dtype=">i4").astype(np.float64) / float(1 << 20)
    else:
        raw = np.frombuffer(payload, dtype=_FP1632)
        out = raw["int"].astype(np.float64) + raw["frac"].astype(np.float64) / float(1 << 32)
    out.flags.writeable = False
    return out


def _fixed_size(xdi: int, payload: bytes, size: int) -> int:
    if len(payload) != size:
        raise BadItemError(f"XDI 0x{xdi:04X} holds {len(payload)} bytes, want {size}")
    return int.from_bytes(payload, "big")


def decode_mtdata2(data: bytes) -> MtData2:
    """Decode an MTData2 payload: XDI u16, size u8, then size bytes, repeated.

    Unknown identifiers are skipped by their size. Raises TruncatedError when an item runs
    past the end, BadItemError when a known item has the wrong size or a reserved format.
    """
    stf: int | None = None
    counter: int | None = None
    accel: np.ndarray | None = None
    gyro: np.ndarray | None = None
    quat: np.ndarray | None = None
    quat_frame: CoordSystem | None = None
    skipped: list[int] = []
    pos, n = 0, len(data)
    while pos < n:
        if n - pos < 3:
            raise TruncatedError(f"MTData2: {n - pos} bytes left at {pos}, an item header is 3")
        xdi = (data[pos] << 8) | data[pos + 1]
        size = data[pos + 2]
        pos += 3
        if pos + size > n:
            raise TruncatedError(
                f"MTData2: XDI 0x{xdi:04X} announces {size} bytes, {n - pos} are left"
            )
        payload = bytes(data[pos : pos + size])
        pos += size
        kind = xdi & XDI_TYPE_MASK
        if kind == Xdi.SAMPLE_TIME_FINE:
            stf = _fixed_size(xdi, payload, 4)
        elif kind == Xdi.PACKET_COUNTER:
            counter = _fixed_size(xdi, payload, 2)
        elif kind == Xdi.ACCELERATION:
            accel = _decode_reals(xdi, payload, 3)
        elif kind == Xdi.RATE_OF_TURN:
            gyro = _decode_reals(xdi, payload, 3)
        elif kind == Xdi.QUATERNION:
            coord = xdi & XDI_COORD_MASK
            if coord not in CoordSystem._value2member_map_:
                raise BadItemError(f"XDI 0x{xdi:04X}: reserved coordinate system bits")
            quat = _decode_reals(xdi, payload, 4)
            quat_frame = CoordSystem(coord)
        else:
            skipped.append(xdi)
    return MtData2(stf, counter, accel, gyro, quat, quat_frame, tuple(skipped))


def encode_reals(values: Sequence[float] | np.ndarray, precision: Precision) -> bytes:
    """Real numbers in one of the four XDI precisions (the fixed-point ones saturate)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if precision is Precision.FLOAT32:
        return v.astype(">f4").tobytes()
    if precision is Precision.FLOAT64:
        return v.astype(">f8").tobytes()
    if precision is Precision.FP1220:
        raw = np.clip(np.round(v * (1 << 20)), -(1 << 31), (1 << 31) - 1)
        return raw.astype(">i4").tobytes()
    out = bytearray()
    for x in v:
        raw = int(np.clip(round(float(x) * (1 << 32)), -(1 << 47), (1 << 47) - 1))
        out += struct.pack(">Ih", raw & 0xFFFFFFFF, raw >> 32)
    return bytes(out)


def encode_item(xdi: int, payload: bytes) -> bytes:
    """One MTData2 item: XDI u16, size u8, payload."""
    if len(payload) > 0xFF:
        raise ValueError(f"an MTData2 item holds at most 255 bytes, got {len(payload)}")
    return struct.pack(">HB", xdi, len(payload)) + payload


def encode_value(xdi: int, value: int | Sequence[float] | np.ndarray) -> bytes:
    """One item of a supported XDI (format bits included) holding `value`."""
    kind = xdi & XDI_TYPE_MASK
    if kind in (Xdi.SAMPLE_TIME_FINE, Xdi.PACKET_COUNTER):
        if not isinstance(value, int | np.integer):
            raise ValueError(f"XDI 0x{xdi:04X} takes an integer, got {type(value).__name__}")
        if kind == Xdi.SAMPLE_TIME_FINE:
            return encode_item(xdi, struct.pack(">I", int(value) % SAMPLE_TIME_FINE_MODULUS))
        return encode_item(xdi, struct.pack(">H", int(value) % PACKET_COUNTER_MODULUS))
    count = _REAL_COUNTS.get(kind)
    if count is None:
        raise ValueError(f"no encoder for XDI 0x{xdi:04X}")
    v = np.asarray(value, dtype=np.float64).reshape(-1)
    if v.shape != (count,):
        raise ValueError(f"XDI 0x{xdi:04X} takes {count} numbers, got {v.shape}")
    return encode_item(xdi, encode_reals(v, Precision(xdi & XDI_PRECISION_MASK)))


def encode_mtdata2(
    *,
    sample_time_fine: int | None = None,
    packet_counter: int | None = None,
    accel_mps2: Sequence[float] | np.ndarray | None = None,
    gyro_radps: Sequence[float] | np.ndarray | None = None,
    quat_wxyz: Sequence[float] | np.ndarray | None = None,
    precision: Precision = Precision.FLOAT32,
    quat_frame: CoordSystem = CoordSystem.ENU,
    extra_items: Iterable[tuple[int, bytes]] = (),
) -> bytes:
    """An MTData2 payload (not a frame: wrap it with encode_frame(Mid.MTDATA2, ...))."""
    out = bytearray()
    if packet_counter is not None:
        out += encode_value(Xdi.PACKET_COUNTER, packet_counter)
    if sample_time_fine is not None:
        out += encode_value(Xdi.SAMPLE_TIME_FINE, sample_time_fine)
    if quat_wxyz is not None:
        out += encode_value(Xdi.QUATERNION | quat_frame | precision, quat_wxyz)
    if accel_mps2 is not None:
        out += encode_value(Xdi.ACCELERATION | precision, accel_mps2)
    if gyro_radps is not None:
        out += encode_value(Xdi.RATE_OF_TURN | precision, gyro_radps)
    for xdi, payload in extra_items:
        out += encode_item(xdi, payload)
    return bytes(out)
