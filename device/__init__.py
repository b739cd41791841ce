"""The device: the scanning daemon and everything it owns.

The daemon (daemon.py) with its state machine (state.py), the button and status LED, the scan
in progress (scan.py) and its recorder (recording.py), the worker processes (workers.py: live
SLAM, the online splat, processing), the jobs that make products (jobs.py, processing.py),
storage, sd_notify, the one config tree (config.py) and the `scanner` command line (cli).
It sits on top: it uses drivers/, slam/, products/ and splat/, and nothing below imports it.
"""
