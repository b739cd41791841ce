"""Livox Mid-360 over Ethernet (Livox SDK2 protocol): codec, live driver and an emulator.

- :mod:`drivers.livox.protocol`: the pure wire codec (no sockets);
- :class:`Mid360Driver`: UDP in, :class:`~drivers.frames.LidarSweep` and
  :class:`~drivers.frames.ImuSample` out;
- :class:`Mid360Emulator`: a Mid-360 on loopback streaming recorded or synthetic frames.
"""

from drivers.livox.driver import DriverStatus, ErrorCounts, Mid360Driver
from drivers.livox.emulator import EmulatorCounters, EmulatorState, Mid360Emulator

__all__ = [
    "DriverStatus",
    "EmulatorCounters",
    "EmulatorState",
    "ErrorCounts",
    "Mid360Driver",
    "Mid360Emulator",
]
