"""Random points and point packets for the codec tests, and the fuzzing settings."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings

from drivers.livox.packet_encode import encode_point_packet

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _points(n: int, seed: int = 0, r_min: float = 1.0, r_max: float = 60.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return d * rng.uniform(r_min, r_max, size=(n, 1))  # [n, 3]


def _packet(data_type: int = 1, n: int = 96, seed: int = 0, **kw: int) -> bytes:
    args = dict(timestamp_ns=10**12, time_interval_100ns=4800, udp_cnt=7, data_type=data_type)
    args.update(kw)
    refl = np.arange(n, dtype=np.uint8)
    tag = (np.arange(n) % 3).astype(np.uint8)
    return encode_point_packet(_points(n, seed), refl, tag, **args)
