"""Everything frames come from, live or recorded, behind one Source interface (source.py).

The frame types (frames.py); the live drivers of the Mid-360 (livox/), the Xsens IMU (xsens/)
and the camera (camera/), merged by the hub (hub.py); the session format, its recorder and its
replay (sessions/); folders of scans (scan_folder.py); the emulators that speak the sensors'
bytes over loopback (emulate.py) and the digital twin (sim/). It imports nothing from slam/ or
device/.
"""
