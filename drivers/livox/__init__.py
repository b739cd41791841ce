"""Livox Mid-360 over Ethernet (Livox SDK2 protocol): codec, live driver and an emulator.

The wire codec, pure (no sockets), after Livox-SDK2 (include/livox_lidar_def.h,
sdk_core/comm/define.h, sdk_core/comm/sdk_protocol.cpp, sdk_core/command_handler/*.cpp) and
livox_ros_driver2 (src/comm/pub_handler.cpp); all fields little-endian and packed:

- :mod:`~drivers.livox.crc`: CRC-16/CCITT-FALSE and CRC-32;
- :mod:`~drivers.livox.errors`: the ProtocolError subclasses, the only errors decoders raise;
- :mod:`~drivers.livox.command_frame`: command frames (24-byte header), encode and decode;
- :mod:`~drivers.livox.commands`: parameter keys, key-value payloads, request/ACK builders;
- :mod:`~drivers.livox.framing`: frame and packet boundaries in byte streams;
- :mod:`~drivers.livox.packets`: data packets (36-byte header), point and IMU decoding;
- :mod:`~drivers.livox.packet_batch`: many point packets decoded at once, vectorised;
- :mod:`~drivers.livox.packet_encode`: point and IMU packets built as the lidar sends them.

The driver, :class:`Mid360Driver` (:mod:`~drivers.livox.driver`): UDP in,
:class:`~drivers.frames.LidarSweep` and :class:`~drivers.frames.ImuSample` out; its IO thread
(:mod:`~drivers.livox.driver_io`), control thread (:mod:`~drivers.livox.driver_control`) and
pure stream helpers (:mod:`~drivers.livox.stream`). The emulator, :class:`Mid360Emulator`
(:mod:`~drivers.livox.emulator`): a Mid-360 on loopback streaming recorded or synthetic
frames; its command side (:mod:`~drivers.livox.emulator_commands`) and its packetising of
frames into datagrams (:mod:`~drivers.livox.emulator_packets`).
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
