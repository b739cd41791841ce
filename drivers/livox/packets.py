"""Livox SDK2 data packets (points, IMU): their layout and the decoders of one packet.

A data packet is a 36-byte header (length, time_interval, dot_num, udp_cnt, data_type,
time_type, timestamp of the first point, ...) and dot_num fixed-size records: Cartesian
points in mm or cm, spherical points, or one IMU sample (gyro in rad/s, acceleration in g).
Here are the numpy record types, :func:`parse_data_header` and the pure decoders
:func:`decode_points` and :func:`decode_imu`, which raise only
:class:`~drivers.livox.errors.ProtocolError` subclasses. Many point packets at once:
:mod:`drivers.livox.packet_batch`; building packets: :mod:`drivers.livox.packet_encode`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from drivers.livox.errors import (
    BadFrameError,
    OversizedError,
    TruncatedError,
    UnknownDataTypeError,
)

DATA_HEADER_SIZE = 36
MAX_DATA_PACKET_SIZE = 1472  # largest UDP payload in one 1500-byte Ethernet frame
POINTS_PER_PACKET = 96  # Mid-360
LINES = 4  # Mid-360 laser channels: the line of point i of a packet is i % 4
IMU_PAYLOAD_SIZE = 24
STANDARD_GRAVITY_MPS2 = 9.80665  # the IMU reports acceleration in g; 1 g = 9.80665 m/s^2
MAX_TIME_INTERVAL = 0xFFFF  # u16, unit 0.1 us


class DataType(IntEnum):
    IMU = 0
    CARTESIAN_HIGH = 1  # i32 x, y, z in mm
    CARTESIAN_LOW = 2  # i16 x, y, z in cm
    SPHERICAL = 3  # u32 depth mm, u16 theta, u16 phi in 0.01 deg


class TimeType(IntEnum):
    NO_SYNC = 0  # the lidar's own clock (time since power-on)
    PTP = 1  # PTP / gPTP
    GPS = 2


DATA_HEADER = np.dtype(
    [
        ("version", "u1"),
        ("length", "<u2"),
        ("time_interval", "<u2"),  # 0.1 us
        ("dot_num", "<u2"),
        ("udp_cnt", "<u2"),
        ("frame_cnt", "u1"),
        ("data_type", "u1"),
        ("time_type", "u1"),
        ("rsvd", "u1", (12,)),
        ("crc32", "<u4"),
        ("timestamp", "<u8"),  # ns, first point
    ]
)
assert DATA_HEADER.itemsize == DATA_HEADER_SIZE

CARTESIAN_HIGH_POINT = np.dtype(
    [("x", "<i4"), ("y", "<i4"), ("z", "<i4"), ("reflectivity", "u1"), ("tag", "u1")]
)
CARTESIAN_LOW_POINT = np.dtype(
    [("x", "<i2"), ("y", "<i2"), ("z", "<i2"), ("reflectivity", "u1"), ("tag", "u1")]
)
SPHERICAL_POINT = np.dtype(
    [("depth", "<u4"), ("theta", "<u2"), ("phi", "<u2"), ("reflectivity", "u1"), ("tag", "u1")]
)
IMU_RECORD = np.dtype(
    [(f"{q}_{a}", "<f4") for q in ("gyro", "acc") for a in "xyz"]
)  # gyro rad/s, acc in g
assert IMU_RECORD.itemsize == IMU_PAYLOAD_SIZE

POINT_DTYPES: dict[int, np.dtype] = {
    DataType.CARTESIAN_HIGH: CARTESIAN_HIGH_POINT,
    DataType.CARTESIAN_LOW: CARTESIAN_LOW_POINT,
    DataType.SPHERICAL: SPHERICAL_POINT,
}
POINT_SIZES = {k: v.itemsize for k, v in POINT_DTYPES.items()}

DATA_HEADER_STRUCT = struct.Struct("<BHHHHBBB12sIQ")
assert DATA_HEADER_STRUCT.size == DATA_HEADER_SIZE
MAX_TIMESTAMP_NS = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class DataHeader:
    version: int
    length: int
    time_interval: int  # 0.1 us, from the first point to one interval past the last
    dot_num: int
    udp_cnt: int
    frame_cnt: int
    data_type: int
    time_type: int
    crc32: int
    timestamp_ns: int  # first point

    @property
    def point_interval_ns(self) -> int:
        """livox_ros_driver2's rule: time_interval * 100 / dot_num, in integer arithmetic."""
        return self.time_interval * 100 // self.dot_num if self.dot_num else 0


@dataclass(frozen=True, slots=True)
class PointPacket:
    header: DataHeader
    xyz_m: np.ndarray  # [N, 3] float32, empty (0, 0, 0) returns dropped
    reflectivity: np.ndarray  # [N] uint8
    tag: np.ndarray  # [N] uint8
    line: np.ndarray  # [N] uint8, index in packet % 4
    t_ns: np.ndarray  # [N] int64, lidar clock

    def __len__(self) -> int:
        return len(self.xyz_m)


@dataclass(frozen=True, slots=True)
class ImuPacket:
    header: DataHeader
    gyro_radps: np.ndarray  # [3] float64
    acc_g: np.ndarray  # [3] float64, as sent: in units of standard gravity
    acc_mps2: np.ndarray  # [3] float64, acc_g * 9.80665

    @property
    def t_ns(self) -> int:
        return self.header.timestamp_ns


def parse_data_header(packet: bytes | bytearray | memoryview) -> DataHeader:
    """The 36-byte header of a data packet, checked against the datagram's size.

    Checks: size within [36, MAX_DATA_PACKET_SIZE], length field == size, a known data_type,
    a payload of exactly dot_num records of that type, a timestamp below 2**63 ns.
    """
    n = len(packet)
    if n < DATA_HEADER_SIZE:
        raise TruncatedError(f"data packet of {n} bytes, header needs {DATA_HEADER_SIZE}")
    if n > MAX_DATA_PACKET_SIZE:
        raise OversizedError(f"data packet of {n} bytes > {MAX_DATA_PACKET_SIZE}")
    (ver, length, ti, dot_num, udp_cnt, frame_cnt, data_type, time_type, _rsvd, crc, ts) = (
        DATA_HEADER_STRUCT.unpack_from(packet)
    )
    header = DataHeader(ver, length, ti, dot_num, udp_cnt, frame_cnt, data_type, time_type, crc, ts)
    if length > n:
        raise TruncatedError(f"length field {length} > {n} bytes received")
    if length < n:
        raise BadFrameError(f"length field {length} < {n} bytes received")
    if data_type == DataType.IMU:
        record = IMU_PAYLOAD_SIZE
    elif data_type in POINT_SIZES:
        record = POINT_SIZES[data_type]
    else:
        raise UnknownDataTypeError(f"data_type {data_type}")
    if dot_num * record != n - DATA_HEADER_SIZE:
        raise BadFrameError(
            f"dot_num {dot_num} x {record} B != payload of {n - DATA_HEADER_SIZE} B"
        )
    if ts > MAX_TIMESTAMP_NS:
        raise BadFrameError(f"timestamp {ts} ns out of range")
    return header


def xyz_from_records(pts: np.ndarray, data_type: int) -> tuple[np.ndarray, np.ndarray]:
    """(xyz_m [..., 3] float32, non-empty mask [...]) from point records of one data type."""
    if data_type == DataType.SPHERICAL:
        # livox_ros_driver2 ProcessSphericalPoint: theta from +z, phi from +x about +z
        radius_m = pts["depth"] / 1000.0
        theta = pts["theta"] / 100.0 / 180.0 * np.pi
        phi = pts["phi"] / 100.0 / 180.0 * np.pi
        sin_theta = np.sin(theta)
        xyz = np.stack(
            [
                radius_m * sin_theta * np.cos(phi),
                radius_m * sin_theta * np.sin(phi),
                radius_m * np.cos(theta),
            ],
            axis=-1,
        ).astype(np.float32)
        return xyz, pts["depth"] != 0
    scale = 1000.0 if data_type == DataType.CARTESIAN_HIGH else 100.0
    x, y, z = pts["x"], pts["y"], pts["z"]
    xyz = (np.stack([x, y, z], axis=-1) / scale).astype(np.float32)
    return xyz, (x != 0) | (y != 0) | (z != 0)


def decode_points(packet: bytes | bytearray | memoryview) -> PointPacket:
    """One point packet (data_type 1, 2 or 3): header and the non-empty points."""
    header = parse_data_header(packet)
    if header.data_type == DataType.IMU:
        raise BadFrameError("an IMU packet where points were expected")
    pts = np.frombuffer(
        packet, dtype=POINT_DTYPES[header.data_type], count=header.dot_num, offset=DATA_HEADER_SIZE
    )
    xyz, keep = xyz_from_records(pts, header.data_type)
    i = np.arange(header.dot_num, dtype=np.int64)
    t_ns = header.timestamp_ns + i * header.point_interval_ns  # [n]
    return PointPacket(
        header=header,
        xyz_m=xyz[keep],
        reflectivity=pts["reflectivity"][keep].copy(),
        tag=pts["tag"][keep].copy(),
        line=(i % LINES).astype(np.uint8)[keep],
        t_ns=t_ns[keep],
    )


def decode_imu(packet: bytes | bytearray | memoryview) -> ImuPacket:
    """One IMU packet (data_type 0): gyro in rad/s, acceleration in g and in m/s^2."""
    header = parse_data_header(packet)
    if header.data_type != DataType.IMU:
        raise BadFrameError(f"data_type {header.data_type} where an IMU packet was expected")
    if header.dot_num != 1:
        raise BadFrameError(f"IMU packet with dot_num {header.dot_num}, expected 1")
    rec = np.frombuffer(packet, dtype=IMU_RECORD, count=1, offset=DATA_HEADER_SIZE)[0]
    gyro = np.array([rec["gyro_x"], rec["gyro_y"], rec["gyro_z"]], dtype=np.float64)
    acc_g = np.array([rec["acc_x"], rec["acc_y"], rec["acc_z"]], dtype=np.float64)
    return ImuPacket(header, gyro, acc_g, acc_g * STANDARD_GRAVITY_MPS2)
