"""Settings of the sensor drivers (one section each in the scanner's config)."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class LidarConfig(BaseModel):
    """The Livox Mid-360 over Ethernet (Livox SDK2 protocol, UDP)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    lidar_ip: IPv4Address = IPv4Address("192.168.1.12")
    host_ip: IPv4Address = IPv4Address("192.168.1.5")
    discovery_port: int = Field(56000, gt=0, lt=65536)  # lidar side; the host side is +1
    command_port: int = Field(56100, gt=0, lt=65536)
    push_port: int = Field(56200, gt=0, lt=65536)
    point_port: int = Field(56300, gt=0, lt=65536)
    imu_port: int = Field(56400, gt=0, lt=65536)
    host_port_offset: int = Field(1, description="host ports are the lidar's ports plus this")
    point_data_type: int = Field(1, ge=1, le=3, description="1 Cartesian high, 2 low, 3 spherical")
    imu_enabled: bool = True
    sweep_period_s: float = Field(0.1, gt=0.0, le=1.0, description="points are cut into sweeps")
    timeout_s: float = Field(1.0, gt=0.0, description="no data for this long means disconnected")


class ImuConfig(BaseModel):
    """The optional external IMU on a serial port (Xsens MTi, Xbus protocol)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    port: Path = Path("/dev/scanner-imu")  # the udev rule in systemd/ makes this link
    baudrate: int = Field(921600, gt=0)
    timeout_s: float = Field(1.0, gt=0.0)
    T_lidar_imu: list[list[float]] | None = Field(
        None, description="[4][4] the IMU's pose in the lidar frame; needed to fuse it"
    )


class CameraConfig(BaseModel):
    """The USB camera (V4L2 through OpenCV), or a video file or image folder in its place."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    source: str = "/dev/video0"  # a device path or index, a video file, or a folder of images
    width: int = Field(1280, gt=0)
    height: int = Field(720, gt=0)
    rate_hz: float = Field(10.0, gt=0.0, le=120.0)
    exposure_us: int | None = Field(None, gt=0, description="manual exposure; None = auto")
    jpeg_quality: int = Field(90, ge=1, le=100)
    timeout_s: float = Field(2.0, gt=0.0)
    loop: bool = Field(False, description="a video file or image folder starts over at its end")
