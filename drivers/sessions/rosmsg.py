"""Frames <-> ROS 2 messages (CDR), with the topics and layouts of the session format.

The lidar is a sensor_msgs/PointCloud2 laid out as livox_ros_driver2 publishes it: x, y, z,
intensity (float32), tag, line (uint8), timestamp (float64, ns), 26 bytes a point, packed.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from drivers.frames import CameraFrame, ImuSample, LidarSweep
from drivers.source import Sensor

LIDAR_TOPIC = "/livox/lidar"
IMU_TOPIC = "/livox/imu"
EXTERNAL_IMU_TOPIC = "/xsens/imu"  # the optional serial IMU (not yet in interfaces.md)
IMAGE_TOPIC = "/camera/image/compressed"
CAMERA_INFO_TOPIC = "/camera/camera_info"
LIDAR_FRAME_ID = "livox_frame"
IMU_FRAME_ID = "livox_imu"
CAMERA_FRAME_ID = "camera"

# which topic holds which sensor's frames
TOPICS = {
    Sensor.lidar: LIDAR_TOPIC,
    Sensor.imu: IMU_TOPIC,
    Sensor.external_imu: EXTERNAL_IMU_TOPIC,
    Sensor.camera: IMAGE_TOPIC,
}
SENSORS = {topic: sensor for sensor, topic in TOPICS.items()}
FRAME_IDS = {
    Sensor.lidar: LIDAR_FRAME_ID,
    Sensor.imu: IMU_FRAME_ID,
    Sensor.external_imu: "imu_link",  # the serial IMU's frame (the config's T_lidar_imu)
    Sensor.camera: CAMERA_FRAME_ID,
}

TYPES = {
    LIDAR_TOPIC: "sensor_msgs/msg/PointCloud2",
    IMU_TOPIC: "sensor_msgs/msg/Imu",
    EXTERNAL_IMU_TOPIC: "sensor_msgs/msg/Imu",
    IMAGE_TOPIC: "sensor_msgs/msg/CompressedImage",
    CAMERA_INFO_TOPIC: "sensor_msgs/msg/CameraInfo",
}

LIVOX_POINT = np.dtype(
    {
        "names": ["x", "y", "z", "intensity", "tag", "line", "timestamp"],
        "formats": ["<f4", "<f4", "<f4", "<f4", "u1", "u1", "<f8"],
        "offsets": [0, 4, 8, 12, 16, 17, 18],
        "itemsize": 26,
    }
)
_FLOAT32, _UINT8, _FLOAT64 = 7, 2, 8  # sensor_msgs/PointField datatypes


@cache
def typestore():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_HUMBLE)


def msgdef(typename: str) -> str:
    """The ROS 2 message definition text (with its dependencies), as MCAP schemas carry it."""
    return typestore().generate_msgdef(typename, ros_version=2)[0]


def _header(t_ns: int, frame_id: str):
    ts = typestore().types
    stamp = ts["builtin_interfaces/msg/Time"](
        sec=int(t_ns // 1_000_000_000), nanosec=int(t_ns % 1_000_000_000)
    )
    return ts["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)


def encode_sweep(sweep: LidarSweep) -> bytes:
    ts = typestore().types
    n = len(sweep)
    pts = np.zeros(n, dtype=LIVOX_POINT)
    pts["x"], pts["y"], pts["z"] = sweep.xyz_m[:, 0], sweep.xyz_m[:, 1], sweep.xyz_m[:, 2]
    if sweep.intensity is not None:
        pts["intensity"] = sweep.intensity
    if sweep.tag is not None:
        pts["tag"] = sweep.tag
    if sweep.line is not None:
        pts["line"] = sweep.line
    dt = sweep.point_dt_s if sweep.point_dt_s is not None else np.zeros(n)
    pts["timestamp"] = sweep.t_ns + np.round(dt.astype(np.float64) * 1e9)
    Field = ts["sensor_msgs/msg/PointField"]
    fields = [
        Field(name=name, offset=LIVOX_POINT.fields[name][1], datatype=dtype, count=1)
        for name, dtype in (
            ("x", _FLOAT32),
            ("y", _FLOAT32),
            ("z", _FLOAT32),
            ("intensity", _FLOAT32),
            ("tag", _UINT8),
            ("line", _UINT8),
            ("timestamp", _FLOAT64),
        )
    ]
    msg = ts["sensor_msgs/msg/PointCloud2"](
        header=_header(sweep.t_ns, LIDAR_FRAME_ID),
        height=1,
        width=n,
        fields=fields,
        is_bigendian=False,
        point_step=LIVOX_POINT.itemsize,
        row_step=LIVOX_POINT.itemsize * n,
        data=pts.view(np.uint8).reshape(-1),
        is_dense=True,
    )
    return bytes(typestore().serialize_cdr(msg, TYPES[LIDAR_TOPIC]))


def decode_sweep(data: bytes, index: int = 0) -> LidarSweep:
    msg = typestore().deserialize_cdr(data, TYPES[LIDAR_TOPIC])
    if msg.point_step != LIVOX_POINT.itemsize:
        raise ValueError(
            f"PointCloud2 with point_step {msg.point_step}, expected {LIVOX_POINT.itemsize}"
        )
    pts = np.frombuffer(np.asarray(msg.data, dtype=np.uint8).tobytes(), dtype=LIVOX_POINT)
    t_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
    return LidarSweep(
        t_ns=t_ns,
        xyz_m=np.column_stack([pts["x"], pts["y"], pts["z"]]).astype(np.float64),
        intensity=pts["intensity"].copy(),
        point_dt_s=((pts["timestamp"] - t_ns) * 1e-9).astype(np.float32),
        index=index,
        line=pts["line"].copy(),
        tag=pts["tag"].copy(),
    )


def encode_imu(sample: ImuSample) -> bytes:
    ts = typestore().types
    V3, Q = ts["geometry_msgs/msg/Vector3"], ts["geometry_msgs/msg/Quaternion"]
    unknown = np.zeros(9)
    unknown[0] = -1.0  # REP 145: orientation not provided
    g, a = sample.gyro_radps, sample.accel_mps2
    msg = ts["sensor_msgs/msg/Imu"](
        header=_header(sample.t_ns, IMU_FRAME_ID),
        orientation=Q(x=0.0, y=0.0, z=0.0, w=1.0),
        orientation_covariance=unknown,
        angular_velocity=V3(x=float(g[0]), y=float(g[1]), z=float(g[2])),
        angular_velocity_covariance=np.zeros(9),
        linear_acceleration=V3(x=float(a[0]), y=float(a[1]), z=float(a[2])),
        linear_acceleration_covariance=np.zeros(9),
    )
    return bytes(typestore().serialize_cdr(msg, TYPES[IMU_TOPIC]))


def decode_imu(data: bytes) -> ImuSample:
    msg = typestore().deserialize_cdr(data, TYPES[IMU_TOPIC])
    w, a = msg.angular_velocity, msg.linear_acceleration
    return ImuSample(
        t_ns=msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec,
        gyro_radps=np.array([w.x, w.y, w.z]),
        accel_mps2=np.array([a.x, a.y, a.z]),
    )


def encode_image(frame: CameraFrame) -> bytes:
    ts = typestore().types
    msg = ts["sensor_msgs/msg/CompressedImage"](
        header=_header(frame.t_ns, CAMERA_FRAME_ID),
        format="jpeg",
        data=np.frombuffer(frame.jpeg, dtype=np.uint8),
    )
    return bytes(typestore().serialize_cdr(msg, TYPES[IMAGE_TOPIC]))


def decode_image(data: bytes) -> CameraFrame:
    """A CompressedImage -> CameraFrame (size from the JPEG header, exposure from its EXIF)."""
    import io

    from PIL import Image

    msg = typestore().deserialize_cdr(data, TYPES[IMAGE_TOPIC])
    jpeg = np.asarray(msg.data, dtype=np.uint8).tobytes()
    with Image.open(io.BytesIO(jpeg)) as im:
        exposure = im.getexif().get_ifd(0x8769).get(0x829A, 0.0)  # Exif IFD: ExposureTime
        width, height = im.size
    return CameraFrame(
        t_ns=msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec,
        jpeg=jpeg,
        width=width,
        height=height,
        exposure_s=float(exposure),
    )


def encode_camera_info(t_ns: int, info: dict) -> bytes:
    """info: width, height, distortion_model, d, k (9), r (9), p (12), as CameraModel gives."""
    ts = typestore().types
    roi = ts["sensor_msgs/msg/RegionOfInterest"](
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
    )
    msg = ts["sensor_msgs/msg/CameraInfo"](
        header=_header(t_ns, CAMERA_FRAME_ID),
        height=int(info["height"]),
        width=int(info["width"]),
        distortion_model=info["distortion_model"],
        d=np.asarray(info["d"], dtype=np.float64),
        k=np.asarray(info["k"], dtype=np.float64),
        r=np.asarray(info["r"], dtype=np.float64),
        p=np.asarray(info["p"], dtype=np.float64),
        binning_x=0,
        binning_y=0,
        roi=roi,
    )
    return bytes(typestore().serialize_cdr(msg, TYPES[CAMERA_INFO_TOPIC]))
