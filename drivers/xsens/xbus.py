"""The Xbus protocol of the Xsens MTi: frames, and finding them in a byte stream.

Pure code: bytes in, frozen dataclasses out, typed errors on bad input; no I/O, no clocks.
Following the Xsens "MT Low Level Communication Protocol" (document MT0101P); all fields are
big-endian.

A frame (message) is

    PRE 0xFA | BID 0xFF | MID | LEN | [EXT LEN, u16, when LEN == 0xFF] | DATA | CS

where CS makes the sum of every byte from BID through CS 0 modulo 256. Standard frames carry
0..254 data bytes; LEN 0xFF announces the extended form.

Finding frames in a byte stream (`XbusFrameFinder`) is kept apart from decoding one frame
(`decode_frame`), as in pyubx2: the finder only looks for boundaries, counts what it had to
throw away, and never raises. What a frame's data holds is decoded elsewhere: MTData2 in
`drivers.xsens.mtdata2`, the control payloads in `drivers.xsens.control`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

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


class XbusError(ValueError):
    """Bytes that are not a valid Xbus frame or payload."""


class ChecksumError(XbusError):
    """The frame's bytes from BID through CS do not sum to 0 modulo 256."""


class TruncatedError(XbusError):
    """Fewer bytes than a length field announced."""


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
