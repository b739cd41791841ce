"""Shared fixtures for the Livox tests: free loopback endpoints."""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass
from typing import Any

import pytest

from drivers.config import LidarConfig


@dataclass(frozen=True)
class Endpoints:
    """A random lidar and host address on the loopback net with a random port block."""

    lidar_ip: str
    host_ip: str
    base_port: int

    @property
    def lidar_ports(self) -> dict[str, int]:
        b = self.base_port
        return {
            "discovery_port": b,
            "command_port": b + 100,
            "push_port": b + 200,
            "point_port": b + 300,
            "imu_port": b + 400,
        }

    def driver_config(self, **overrides: Any) -> LidarConfig:
        kw: dict[str, Any] = dict(
            lidar_ip=self.lidar_ip, host_ip=self.host_ip, timeout_s=0.5, **self.lidar_ports
        )
        kw.update(overrides)
        return LidarConfig(**kw)

    def emulator_kwargs(self, **overrides: Any) -> dict[str, Any]:
        kw: dict[str, Any] = dict(lidar_ip=self.lidar_ip, host_ip=self.host_ip, **self.lidar_ports)
        kw.update(overrides)
        return kw


def _ports_free(ip: str, ports: list[int]) -> bool:
    socks = []
    try:
        for port in ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(s)
            s.bind((ip, port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


@pytest.fixture
def endpoints() -> Endpoints:
    rng = random.Random()
    for _ in range(50):
        lidar_ip = f"127.{rng.randrange(1, 255)}.{rng.randrange(0, 256)}.{rng.randrange(2, 255)}"
        host_ip = f"127.{rng.randrange(1, 255)}.{rng.randrange(0, 256)}.{rng.randrange(2, 255)}"
        base = rng.randrange(20_000, 60_000, 1_000)
        ep = Endpoints(lidar_ip, host_ip, base)
        ports = list(ep.lidar_ports.values())
        if (
            lidar_ip != host_ip
            and _ports_free(lidar_ip, ports)
            and _ports_free(host_ip, [q + 1 for q in ports])
        ):
            return ep
    pytest.skip("no free loopback endpoints")
