"""Xsens MTi over the Xbus protocol: framing and decoding, the serial driver, an emulator.

The protocol is pure (bytes in, dataclasses out): `xbus` frames and finds them in a byte stream,
`mtdata2` decodes (and encodes) the measurement message, `control` the control payloads.
`reader` turns any byte stream into MTData2 messages; `driver` adds the serial port, a thread
and the host clock, with `gaps` counting lost messages; `emulator` plays a recorded or synthetic
IMU stream as an MTi on a pseudo-terminal, its messages made by `synth`.
"""
