"""Xsens MTi over the Xbus protocol: framing and decoding (xbus), the serial driver, an emulator.

`xbus` is pure (bytes in, dataclasses out); `driver` adds the serial port, a thread and the host
clock; `emulator` plays a recorded or synthetic IMU stream as an MTi on a pseudo-terminal.
"""
