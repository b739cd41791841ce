"""Livox SDK2 command frames (discovery, set/query parameters, push messages, their ACKs).

A frame is a 24-byte header (start byte 0xAA, version 0, length, seq, cmd_id, cmd_type,
sender, a CRC-16 over the header's first 18 bytes, a CRC-32 over the data), then the data.
:func:`encode_command` and :func:`decode_command` turn one frame into bytes and back; the
decoder is pure and raises only :class:`~drivers.livox.errors.ProtocolError` subclasses.
Finding frames in a byte stream is :func:`drivers.livox.framing.split_command_frames`; what
the data of each command holds is :mod:`drivers.livox.commands`. Little-endian, packed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from drivers.livox.crc import crc16_ccitt_false, crc32
from drivers.livox.errors import BadFrameError, CrcError, OversizedError, TruncatedError

SOF = 0xAA
COMMAND_VERSION = 0
CMD_HEADER_SIZE = 24
CMD_HEADER_CRC_SPAN = 18  # crc16 covers bytes 0..17
MAX_COMMAND_FRAME_SIZE = 1400  # kMaxCommandBufferSize in sdk_core/comm/define.h


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
