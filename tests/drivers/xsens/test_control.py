"""The Xbus control payloads: output configuration, DeviceID, Error."""

from __future__ import annotations

import pytest

from drivers.xsens.control import (
    OutputSetting,
    decode_device_id,
    decode_output_configuration,
    describe_error,
    encode_output_configuration,
)
from drivers.xsens.mtdata2 import Xdi
from drivers.xsens.xbus import TruncatedError, XbusError


def test_control_payloads() -> None:
    settings_ = (OutputSetting(Xdi.SAMPLE_TIME_FINE, 0xFFFF), OutputSetting(Xdi.ACCELERATION, 400))
    data = encode_output_configuration(settings_)
    assert data.hex() == "1060ffff40200190"
    assert decode_output_configuration(data) == settings_
    with pytest.raises(TruncatedError):
        decode_output_configuration(data[:-1])
    assert decode_device_id(bytes.fromhex("03780001")) == 0x03780001
    with pytest.raises(XbusError):
        decode_device_id(b"\x01")
    assert "INVALID_MESSAGE" in describe_error(b"\x04")
    with pytest.raises(ValueError):
        OutputSetting(0x10000, 1)
