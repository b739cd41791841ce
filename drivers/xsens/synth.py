"""MTData2 messages made from ImuSamples as an MTi makes them, for the emulator.

PacketCounter counts messages; SampleTimeFine is the sample time on the device's own clock
(starting at `start_ticks`, wrapping at 2^32); the quaternion integrates the gyro from identity.
The output configuration picks the items each message holds and their format bits.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from drivers.frames import ImuSample
from drivers.xsens.control import OutputSetting
from drivers.xsens.mtdata2 import SAMPLE_TIME_FINE_NS, Xdi, encode_value
from drivers.xsens.xbus import Mid, encode_frame


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The Hamilton product a * b of quaternions a [4], b [4] (w, x, y, z) -> [4]."""
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ]
    )


class MtData2Maker:
    """One MTData2 frame per sample, in order; the counter, clock and orientation run on."""

    def __init__(self, start_ticks: int) -> None:
        self.start_ticks = start_ticks  # SampleTimeFine of the first sample
        self._first_t_ns: int | None = None
        self._prev_t_ns: int | None = None
        self._quat = np.array([1.0, 0.0, 0.0, 0.0])  # [4] w, x, y, z
        self._packet_counter = 0

    def message(self, sample: ImuSample, output_configuration: Iterable[OutputSetting]) -> bytes:
        """The MTData2 frame (header and checksum included) for the next sample."""
        if self._first_t_ns is None:
            self._first_t_ns = sample.t_ns
        if self._prev_t_ns is not None:
            dt_s = (sample.t_ns - self._prev_t_ns) * 1e-9
            w = np.asarray(sample.gyro_radps, dtype=np.float64)
            angle = float(np.linalg.norm(w)) * dt_s
            if angle > 0.0:
                axis = w / np.linalg.norm(w)
                dq = np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])
                self._quat = _quat_mul(self._quat, dq)
                self._quat /= np.linalg.norm(self._quat)
        self._prev_t_ns = sample.t_ns
        ticks = self.start_ticks + (sample.t_ns - self._first_t_ns) // SAMPLE_TIME_FINE_NS
        values: dict[int, int | np.ndarray] = {
            Xdi.PACKET_COUNTER: self._packet_counter,
            Xdi.SAMPLE_TIME_FINE: ticks,
            Xdi.QUATERNION: self._quat,
            Xdi.ACCELERATION: sample.accel_mps2,
            Xdi.RATE_OF_TURN: sample.gyro_radps,
        }
        self._packet_counter += 1
        data = bytearray()
        for setting in output_configuration:
            value = values.get(setting.xdi & 0xFFF0)
            if value is not None:
                data += encode_value(setting.xdi, value)
        return encode_frame(Mid.MTDATA2, bytes(data))
