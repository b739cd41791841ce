"""MTData2 decoding and encoding."""

from __future__ import annotations

import contextlib
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.xsens.mtdata2 import (
    BadItemError,
    CoordSystem,
    Precision,
    Xdi,
    decode_mtdata2,
    encode_mtdata2,
)
from drivers.xsens.xbus import TruncatedError, XbusError

# --- MTData2 -------------------------------------------------------------------------------


def test_mtdata2_known_answer() -> None:
    """Built by hand: SampleTimeFine 10000, Acceleration (0, 0, 9.81), an unknown StatusWord."""
    data = bytes.fromhex(
        "1060 04 00002710"
        "4020 0c 00000000 00000000 411cf5c3"  # 9.81 as float32 is 0x411CF5C3
        "e020 04 00000003"
        "1020 02 fffe"
    )
    m = decode_mtdata2(data)
    assert m.sample_time_fine == 10_000
    assert m.packet_counter == 0xFFFE
    np.testing.assert_allclose(m.accel_mps2, [0.0, 0.0, 9.81], rtol=1e-7)
    assert m.gyro_radps is None and m.quat_wxyz is None
    assert m.skipped_xdis == (0xE020,)


def test_mtdata2_round_trip_float32() -> None:
    accel = np.array([0.125, -9.80665, 3.5])
    gyro = np.array([0.01, -0.02, 1.5])
    quat = np.array([0.5, 0.5, -0.5, 0.5])
    data = encode_mtdata2(
        sample_time_fine=(1 << 32) + 5,  # wraps
        packet_counter=65_537,
        accel_mps2=accel,
        gyro_radps=gyro,
        quat_wxyz=quat,
    )
    m = decode_mtdata2(data)
    assert m.sample_time_fine == 5 and m.packet_counter == 1
    np.testing.assert_allclose(m.accel_mps2, accel, rtol=1e-7)
    np.testing.assert_allclose(m.gyro_radps, gyro, rtol=1e-7)
    np.testing.assert_array_equal(m.quat_wxyz, quat)
    assert m.quat_frame is CoordSystem.ENU
    assert m.accel_mps2.dtype == np.float64 and not m.accel_mps2.flags.writeable
    # The encoder lays items out as XDI u16, size u8, data.
    assert data[:3] == struct.pack(">HB", Xdi.PACKET_COUNTER, 2)


@pytest.mark.parametrize(
    ("precision", "tol"),
    [(Precision.FLOAT64, 0.0), (Precision.FP1220, 2.0**-20), (Precision.FP1632, 2.0**-32)],
)
def test_mtdata2_other_precisions(precision: Precision, tol: float) -> None:
    accel = np.array([-1.5, 9.80665, -2047.25])
    data = encode_mtdata2(
        accel_mps2=accel, quat_wxyz=[1.0, 0, 0, 0], precision=precision, quat_frame=CoordSystem.NED
    )
    assert (data[0] << 8 | data[1]) == Xdi.QUATERNION | CoordSystem.NED | precision
    m = decode_mtdata2(data)
    np.testing.assert_allclose(m.accel_mps2, accel, rtol=0, atol=tol)
    assert m.quat_frame is CoordSystem.NED


def test_fp1632_layout() -> None:
    """FP16.32: the u32 fraction first, then the i16 integer part; -1.5 = -2 + 0.5."""
    data = bytes.fromhex("4022 12" + "80000000 fffe" + "00000000 0001" + "c0000000 0000")
    np.testing.assert_array_equal(decode_mtdata2(data).accel_mps2, [-1.5, 1.0, 0.75])


@pytest.mark.parametrize(
    ("hex_data", "error"),
    [
        ("4020 08 0000000000000000", BadItemError),  # 2 floats, want 3
        ("1060 03 000001", BadItemError),
        ("201c 10" + "00" * 16, BadItemError),  # reserved coordinate bits 0xC
        ("4020 0c 00000000", TruncatedError),  # announces 12, has 4
        ("1060 04 00000001 10", TruncatedError),  # a dangling byte
    ],
)
def test_mtdata2_errors(hex_data: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_mtdata2(bytes.fromhex(hex_data))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_mtdata2_random_bytes_raise_only_typed_errors(data: bytes) -> None:
    with contextlib.suppress(XbusError):
        decode_mtdata2(data)
