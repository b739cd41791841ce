"""Measurements: `scanner bench` (balm.py: the real BALM scans against kiss-icp; twin.py: the
digital twin's sequences, LIO and lidar-only against kiss-icp; products.py: the map products
against the twin's mesh and colours), and scripts run on their own (`python benchmarks/X.py`:
kernels, recorder, decoder, LIO memory, daemon latency, the splat on a GPU and its limits)."""
