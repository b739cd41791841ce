"""The Xbus protocol of the Xsens MTi: framing, MTData2 and the few control payloads a driver uses.

Pure code: bytes in, frozen dataclasses out, typed errors on bad input; no I/O, no clocks.
Following the Xsens "MT Low Level Communication Protocol" (document MT0101P); all fields are
big-endian.

A frame (message) is

    PRE 0xFA | BID 0xFF | MID | LEN | [EXT LEN, u16, when LEN == 0xFF] | DATA | CS

where CS makes the sum of every byte from BID through CS 0 modulo 256. Standard frames carry
0..254 data bytes; LEN 0xFF announces the extended form.

Finding frames in a byte stream (`XbusFrameFinder`) is kept apart from decoding one frame
(`decode_frame`, `decode_mtdata2`), as in pyubx2: the finder only looks for boundaries, counts
what it had to throw away, and never raises.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

PREAMBLE = 0xFA
BUS_ID = 0xFF  # "master device": the address every MTi answers with
EXTENDED_LEN = 0xFF  # a LEN of 0xFF announces a u16 length after it
MAX_STANDARD_DATA_LEN = 254
# The LLCP document caps extended messages at 2048 data bytes; the Xsens SDK (xsmessage.h,
# XS_MAXDATALEN) accepts 8192 - 7. The checksum decides whether a frame is real; the cap only
# bounds how long a false preamble can hold up the stream, so take the SDK's larger value.
MAX_DATA_LEN = 8192 - 7
MAX_FRAME_LEN = 6 + MAX_DATA_LEN + 1

_SYNC = bytes((PREAMBLE, BUS_ID))


class Mid(IntEnum):
    """Message identifiers used here. An acknowledgement is the request's MID plus one."""

    REQ_DID = 0x00
    DEVICE_ID = 0x01
    GOTO_MEASUREMENT = 0x10
    GOTO_MEASUREMENT_ACK = 0x11
    REQ_PRODUCT_CODE = 0x1C
    PRODUCT_CODE = 0x1D
    GOTO_CONFIG = 0x30
    GOTO_CONFIG_ACK = 0x31
    MTDATA2 = 0x36
    WAKEUP = 0x3E  # sent by the MTi at power-up
    WAKEUP_ACK = 0x3F  # answered within 500 ms, it keeps the MTi in config state
    RESET = 0x40
    RESET_ACK = 0x41
    ERROR = 0x42
    SET_OUTPUT_CONFIGURATION = 0xC0
    OUTPUT_CONFIGURATION = 0xC1  # the acknowledgement, with the configuration applied


class ErrorCode(IntEnum):
    """The first data byte of an Error (0x42) message (XsResultValue in the SDK)."""

    INVALID_PERIOD = 0x03
    INVALID_MESSAGE = 0x04  # invalid, not implemented, or not valid in this state
    TIMER_OVERFLOW = 0x1E
    BAUDRATE = 0x20
    INVALID_PARAMETER = 0x21
    DEVICE_ERROR = 0x28


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
RATE_EVERY_PACKET = 0xFFFF  # output frequency meaning "in every message" (time/status items)
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


class XbusError(ValueError):
    """Bytes that are not a valid Xbus frame or payload."""


class ChecksumError(XbusError):
    """The frame's bytes from BID through CS do not sum to 0 modulo 256."""


class TruncatedError(XbusError):
    """Fewer bytes than a length field announced."""


class BadItemError(XbusError):
    """An MTData2 item whose size or format does not fit its data identifier."""


@dataclass(frozen=True, slots=True)
class XbusFrame:
    """One Xbus message: its identifier and data bytes (no header, no checksum)."""

    mid: int
    data: bytes = b""

    @property
    def name(self) -> str:
        try:
            return Mid(self.mid).name
        except ValueError:
            return f"MID_0x{self.mid:02X}"

    def encode(self) -> bytes:
        return encode_frame(self.mid, self.data)


def checksum(body: bytes) -> int:
    """The CS byte for `body` = BID, MID, LEN[, EXT LEN], DATA."""
    return -sum(body) & 0xFF


def encode_frame(mid: int, data: bytes = b"", bus_id: int = BUS_ID) -> bytes:
    """A complete frame: preamble, header, data and checksum; extended length past 254 bytes."""
    if not 0 <= mid <= 0xFF or not 0 <= bus_id <= 0xFF:
        raise ValueError(f"MID and BID are bytes, got {mid}, {bus_id}")
    n = len(data)
    if n <= MAX_STANDARD_DATA_LEN:
        body = bytes((bus_id, mid, n)) + data
    elif n <= 0xFFFF:
        body = bytes((bus_id, mid, EXTENDED_LEN)) + n.to_bytes(2, "big") + data
    else:
        raise ValueError(f"Xbus data is at most 65535 bytes, got {n}")
    return bytes((PREAMBLE,)) + body + bytes((checksum(body),))


def frame_length(header: bytes) -> int | None:
    """Total frame length from its first 4 (or 6, when extended) bytes; None if too few."""
    if len(header) < 4:
        return None
    n = header[3]
    if n != EXTENDED_LEN:
        return 4 + n + 1
    if len(header) < 6:
        return None
    return 6 + ((header[4] << 8) | header[5]) + 1


def decode_frame(raw: bytes) -> XbusFrame:
    """Decode exactly one frame. Raises TruncatedError, ChecksumError or XbusError."""
    if len(raw) >= 2 and (raw[0] != PREAMBLE or raw[1] != BUS_ID):
        raise XbusError(f"not an Xbus frame: starts {raw[:2].hex()}, want fa ff")
    total = frame_length(raw)
    if total is None or len(raw) < total:
        want = "?" if total is None else total
        raise TruncatedError(f"Xbus frame of {len(raw)} bytes, header announces {want}")
    if len(raw) > total:
        raise XbusError(f"{len(raw) - total} bytes after the Xbus frame's checksum")
    if sum(raw[1:total]) & 0xFF:
        raise ChecksumError(f"Xbus checksum mismatch (MID 0x{raw[2]:02X}, {total} bytes)")
    header = 6 if raw[3] == EXTENDED_LEN else 4
    return XbusFrame(raw[2], bytes(raw[header : total - 1]))


@dataclass(frozen=True, slots=True)
class FinderStats:
    frames: int
    garbage_bytes: int  # bytes thrown away, whatever the reason
    checksum_errors: int  # candidate frames whose checksum failed
    length_errors: int  # candidate headers announcing more than max_data_len
    pending_bytes: int  # held back, waiting for the rest of a frame


class XbusFrameFinder:
    """Cuts a byte stream into frames; resynchronises after garbage and never raises.

    It scans for FA FF, reads the length, and once the whole frame is there checks the
    checksum; on a bad one it skips a single byte and scans again, so a real frame that a
    false preamble had swallowed is still found. Buffered bytes never exceed one maximal
    frame (plus the chunk being fed): a header announcing more than `max_data_len` is dropped
    at once.
    """

    def __init__(self, max_data_len: int = MAX_DATA_LEN) -> None:
        if not 0 <= max_data_len <= 0xFFFF:
            raise ValueError(f"max_data_len must be 0..65535, got {max_data_len}")
        self.max_data_len = max_data_len
        self._buf = bytearray()
        self.frames = 0
        self.garbage_bytes = 0
        self.checksum_errors = 0
        self.length_errors = 0

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)

    def stats(self) -> FinderStats:
        return FinderStats(
            self.frames,
            self.garbage_bytes,
            self.checksum_errors,
            self.length_errors,
            len(self._buf),
        )

    def reset(self) -> None:
        """Forget buffered bytes (after reopening the port); counters are kept."""
        self._buf.clear()

    def feed(self, chunk: bytes) -> list[XbusFrame]:
        """Add bytes; return the complete, valid frames they finish, in stream order."""
        buf = self._buf
        buf += chunk
        n = len(buf)
        out: list[XbusFrame] = []
        pos = 0
        while True:
            start = buf.find(_SYNC, pos)
            if start < 0:
                # Keep a last 0xFA: it may be the first half of the next preamble.
                keep_from = n - 1 if n > pos and buf[n - 1] == PREAMBLE else n
                self.garbage_bytes += keep_from - pos
                pos = keep_from
                break
            self.garbage_bytes += start - pos
            pos = start
            total = frame_length(buf[pos : pos + 6])
            if total is None:
                break
            if buf[pos + 3] == EXTENDED_LEN and total - 7 > self.max_data_len:
                self.length_errors += 1
                self.garbage_bytes += 1
                pos += 1
                continue
            if pos + total > n:
                break
            try:
                frame = decode_frame(bytes(buf[pos : pos + total]))
            except ChecksumError:
                self.checksum_errors += 1
                self.garbage_bytes += 1
                pos += 1
                continue
            out.append(frame)
            self.frames += 1
            pos += total
        del buf[:pos]
        return out


# --- MTData2 -------------------------------------------------------------------------------


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


# --- control payloads ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutputSetting:
    """One entry of SetOutputConfiguration: an XDI (format bits included) and its rate."""

    xdi: int
    rate_hz: int  # RATE_EVERY_PACKET (0xFFFF) for time and status items

    def __post_init__(self) -> None:
        if not (0 <= self.xdi <= 0xFFFF and 0 <= self.rate_hz <= 0xFFFF):
            raise ValueError(f"XDI and rate are u16, got {self.xdi}, {self.rate_hz}")


def encode_output_configuration(settings: Iterable[OutputSetting]) -> bytes:
    return b"".join(struct.pack(">HH", s.xdi, s.rate_hz) for s in settings)


def decode_output_configuration(data: bytes) -> tuple[OutputSetting, ...]:
    if len(data) % 4:
        raise TruncatedError(f"output configuration of {len(data)} bytes, not whole 4-byte items")
    return tuple(OutputSetting(x, r) for x, r in struct.iter_unpack(">HH", data))


def decode_device_id(data: bytes) -> int:
    """DeviceID (0x01) data: a u32 (8 bytes on some newer products)."""
    if len(data) not in (4, 8):
        raise XbusError(f"DeviceID of {len(data)} bytes, want 4 or 8")
    return int.from_bytes(data, "big")


def describe_error(data: bytes) -> str:
    """Human text for an Error (0x42) message's data."""
    if not data:
        return "error (no code)"
    try:
        name = ErrorCode(data[0]).name
    except ValueError:
        name = "unknown"
    return f"error 0x{data[0]:02X} ({name})"
