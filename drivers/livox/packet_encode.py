"""Livox data packets built as a Mid-360 sends them: the lidar side, for the emulator and tests.

:func:`encode_point_packet` quantises points (1 mm, 1 cm, or 1 mm and 0.01 deg) into one
packet of a point data type; :func:`encode_imu_packet` packs one IMU sample (acceleration in
g). The decoders in :mod:`drivers.livox.packets` read them back.
"""

from __future__ import annotations

import struct

import numpy as np

from drivers.livox.crc import crc32
from drivers.livox.packets import (
    DATA_HEADER_SIZE,
    DATA_HEADER_STRUCT,
    IMU_PAYLOAD_SIZE,
    IMU_RECORD,
    MAX_DATA_PACKET_SIZE,
    MAX_TIME_INTERVAL,
    POINT_DTYPES,
    DataType,
    TimeType,
)


def _quantise_points(xyz_m: np.ndarray, data_type: int) -> np.ndarray:
    """Point records [N] of a data type from xyz_m [N, 3]; non-finite rows become empty."""
    xyz = np.asarray(xyz_m, dtype=np.float64).reshape(-1, 3)
    finite = np.isfinite(xyz).all(axis=1)
    xyz = np.where(finite[:, None], xyz, 0.0)
    rec = np.zeros(len(xyz), dtype=POINT_DTYPES[data_type])
    if data_type == DataType.SPHERICAL:
        r_m = np.linalg.norm(xyz, axis=1)
        depth = np.clip(np.rint(r_m * 1000.0), 0, 0xFFFFFFFF)
        with np.errstate(invalid="ignore", divide="ignore"):
            theta = np.degrees(np.arccos(np.clip(xyz[:, 2] / r_m, -1.0, 1.0)))
        theta = np.where(r_m > 0, theta, 0.0)
        phi = np.degrees(np.arctan2(xyz[:, 1], xyz[:, 0])) % 360.0
        theta_q = np.clip(np.rint(theta * 100.0), 0, 18000)
        phi_q = np.rint(phi * 100.0) % 36000
        empty = depth == 0
        rec["depth"] = depth
        rec["theta"] = np.where(empty, 0, theta_q)
        rec["phi"] = np.where(empty, 0, phi_q)
        return rec
    scale, limit = (
        (1000.0, 2**31 - 1) if data_type == DataType.CARTESIAN_HIGH else (100.0, 2**15 - 1)
    )
    q = np.clip(np.rint(xyz * scale), -limit, limit)
    rec["x"], rec["y"], rec["z"] = q[:, 0], q[:, 1], q[:, 2]
    return rec


def _pack_header(
    *,
    length: int,
    time_interval: int,
    dot_num: int,
    udp_cnt: int,
    frame_cnt: int,
    data_type: int,
    time_type: int,
    crc: int,
    timestamp_ns: int,
    version: int = 0,
) -> bytes:
    return DATA_HEADER_STRUCT.pack(
        version,
        length,
        time_interval,
        dot_num,
        udp_cnt & 0xFFFF,
        frame_cnt & 0xFF,
        data_type,
        time_type,
        b"\0" * 12,
        crc,
        timestamp_ns,
    )


def encode_point_packet(
    xyz_m: np.ndarray,  # [N, 3] metres; (0, 0, 0) or non-finite = empty return
    reflectivity: np.ndarray | None = None,  # [N] uint8
    tag: np.ndarray | None = None,  # [N] uint8
    *,
    timestamp_ns: int,
    time_interval_100ns: int,
    udp_cnt: int,
    data_type: int = DataType.CARTESIAN_HIGH,
    time_type: int = TimeType.NO_SYNC,
    frame_cnt: int = 0,
) -> bytes:
    """A point packet as a lidar sends it (quantised to 1 mm, 1 cm or 1 mm / 0.01 deg).

    The crc32 field holds the CRC-32 of timestamp + payload; the SDK does not check it.
    """
    if data_type not in POINT_DTYPES:
        raise ValueError(f"data_type {data_type} is not a point type")
    if not 0 <= time_interval_100ns <= MAX_TIME_INTERVAL:
        raise ValueError(f"time_interval {time_interval_100ns} x 0.1 us does not fit in u16")
    rec = _quantise_points(xyz_m, data_type)
    n = len(rec)
    if reflectivity is not None:
        rec["reflectivity"] = reflectivity
    if tag is not None:
        rec["tag"] = tag
    payload = rec.tobytes()
    length = DATA_HEADER_SIZE + len(payload)
    if length > MAX_DATA_PACKET_SIZE:
        raise ValueError(f"{n} points make a {length}-byte packet > {MAX_DATA_PACKET_SIZE}")
    ts = struct.pack("<Q", timestamp_ns)
    return (
        _pack_header(
            length=length,
            time_interval=time_interval_100ns,
            dot_num=n,
            udp_cnt=udp_cnt,
            frame_cnt=frame_cnt,
            data_type=data_type,
            time_type=time_type,
            crc=crc32(ts + payload),
            timestamp_ns=timestamp_ns,
        )
        + payload
    )


def encode_imu_packet(
    gyro_radps: np.ndarray,  # [3]
    acc_g: np.ndarray,  # [3] in g (= m/s^2 / 9.80665), as the Mid-360 sends it
    *,
    timestamp_ns: int,
    udp_cnt: int,
    time_type: int = TimeType.NO_SYNC,
    frame_cnt: int = 0,
) -> bytes:
    rec = np.zeros(1, dtype=IMU_RECORD)
    g = np.asarray(gyro_radps, dtype=np.float64).reshape(3)
    a = np.asarray(acc_g, dtype=np.float64).reshape(3)
    for j, axis in enumerate("xyz"):
        rec[f"gyro_{axis}"] = g[j]
        rec[f"acc_{axis}"] = a[j]
    payload = rec.tobytes()
    ts = struct.pack("<Q", timestamp_ns)
    return (
        _pack_header(
            length=DATA_HEADER_SIZE + IMU_PAYLOAD_SIZE,
            time_interval=0,
            dot_num=1,
            udp_cnt=udp_cnt,
            frame_cnt=frame_cnt,
            data_type=DataType.IMU,
            time_type=time_type,
            crc=crc32(ts + payload),
            timestamp_ns=timestamp_ns,
        )
        + payload
    )
