"""The few Xbus control payloads a driver uses: output configuration, DeviceID, Error.

Pure code, as `drivers.xsens.xbus`: a frame's data in, values out, typed errors on bad input.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from drivers.xsens.xbus import TruncatedError, XbusError

RATE_EVERY_PACKET = 0xFFFF  # output frequency meaning "in every message" (time/status items)


class ErrorCode(IntEnum):
    """The first data byte of an Error (0x42) message (XsResultValue in the SDK)."""

    INVALID_PERIOD = 0x03
    INVALID_MESSAGE = 0x04  # invalid, not implemented, or not valid in this state
    TIMER_OVERFLOW = 0x1E
    BAUDRATE = 0x20
    INVALID_PARAMETER = 0x21
    DEVICE_ERROR = 0x28


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
