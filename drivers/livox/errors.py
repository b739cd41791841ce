"""The typed errors of the Livox SDK2 codec: every decoder raises only these.

Each class names, in ``kind``, the counter a receiver files it under (the driver's
ErrorCounts fields), so a caller can count bad input without knowing every class.
"""

from __future__ import annotations


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
