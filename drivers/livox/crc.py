"""The two checksums of Livox SDK2 command frames.

A command frame's header carries a CRC-16/CCITT-FALSE of its first 18 bytes and a CRC-32
(zlib / IEEE 802.3) of its data; data packets carry a CRC-32 too, which the SDK does not check.
"""

from __future__ import annotations

import zlib


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
