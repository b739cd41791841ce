"""Lost MTData2 messages, told from the stream's PacketCounter or, without it, SampleTimeFine."""

from __future__ import annotations

from drivers.xsens.mtdata2 import PACKET_COUNTER_MODULUS, SAMPLE_TIME_FINE_MODULUS, MtData2


class GapDetector:
    """Takes MTData2 messages in stream order and says before which ones messages were lost.

    PacketCounter must step by 1; without it, SampleTimeFine by its usual step (the smallest
    seen): a repeated or backwards time, or a step over 1.5 times the usual one, is a gap.
    """

    def __init__(self) -> None:
        self._last_pc: int | None = None
        self._last_stf: int | None = None
        self._stf_step: int | None = None

    def reset(self) -> None:
        """Forget the stream so far (a new measurement session: the device may have restarted)."""
        self._last_pc = self._last_stf = self._stf_step = None

    def update(self, m: MtData2) -> bool:
        """Take the next message; True when messages were lost before it."""
        gap = False
        if m.packet_counter is not None:
            if self._last_pc is not None:
                gap = (m.packet_counter - self._last_pc) % PACKET_COUNTER_MODULUS != 1
            self._last_pc = m.packet_counter
        if m.sample_time_fine is not None:
            if self._last_stf is not None and m.packet_counter is None:
                step = (m.sample_time_fine - self._last_stf) % SAMPLE_TIME_FINE_MODULUS
                if step == 0 or step >= SAMPLE_TIME_FINE_MODULUS // 2:
                    gap = True  # repeated or backwards
                elif self._stf_step is None or step < self._stf_step:
                    self._stf_step = step  # the smallest step seen is the period
                elif step > 1.5 * self._stf_step:
                    gap = True
            self._last_stf = m.sample_time_fine
        return gap
