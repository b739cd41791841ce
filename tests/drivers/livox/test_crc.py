"""Tests of drivers.livox.crc: the check values of both checksums in command frames."""

from __future__ import annotations

from drivers.livox.command_frame import encode_command
from drivers.livox.commands import discovery_request
from drivers.livox.crc import crc16_ccitt_false, crc32


def test_crc_check_values() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    header = bytes([0xAA, 0x00, 24, 0x00]) + bytes(14)
    assert crc16_ccitt_false(header) == 0x64C8
    assert crc32(b"123456789") == 0xCBF43926
    discovery = encode_command(discovery_request(0))
    assert discovery[18:20] == (0x64C8).to_bytes(2, "little")
    assert discovery[20:24] == bytes(4)  # no data: crc32 field is 0
