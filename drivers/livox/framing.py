"""Frame boundaries in Livox SDK2 byte streams, kept apart from decoding one frame.

As in pyubx2, these only delimit: :func:`split_command_frames` finds command frames in a
stream (resynchronising on garbage), :func:`split_data_packets` cuts a concatenation of data
packets by their length fields. Each piece is then decoded by
:func:`~drivers.livox.command_frame.decode_command` or the data-packet decoders.
"""

from __future__ import annotations

from drivers.livox.command_frame import (
    CMD_HEADER_CRC_SPAN,
    CMD_HEADER_SIZE,
    MAX_COMMAND_FRAME_SIZE,
    SOF,
)
from drivers.livox.crc import crc16_ccitt_false
from drivers.livox.errors import BadFrameError, OversizedError, TruncatedError
from drivers.livox.packets import DATA_HEADER_SIZE, MAX_DATA_PACKET_SIZE


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
