"""A running scanner for the API tests: a twin session played by the emulators on loopback,
read by the daemon's real drivers, served over HTTP on a free port."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from api.app import create_app
from api.server import ApiServer
from device.daemon import Daemon
from device.demo import demo_config
from drivers.emulate import EmulateSettings, SessionEmulator

TOKEN = "test-token-0123456789"
LIDAR_IP, HOST_IP = "127.0.0.91", "127.0.0.92"


@dataclass
class Scanner:
    daemon: Daemon
    server: ApiServer
    emulator: SessionEmulator
    url: str

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10.0)

    def wait_state(self, client: httpx.Client, states: set[str], timeout_s: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            st = client.get("/api/v1/status").json()
            if st["state"] in states:
                return st
            time.sleep(0.1)
        raise AssertionError(f"state never reached {states}: {st}")


@pytest.fixture(scope="package")  # gone after tests/api: a looping emulator and a live daemon
def scanner(twin_session, tmp_path_factory) -> Iterator[Scanner]:
    run = tmp_path_factory.mktemp("run")
    settings = EmulateSettings(LIDAR_IP, HOST_IP, run / "imu", run / "camera", rate=1.0, loop=True)
    emulator = SessionEmulator(twin_session, settings).start()
    config = demo_config(twin_session, settings, run / "data", 0, storage_reserve_mb=0)
    daemon = Daemon(config)
    server = ApiServer(create_app(daemon, TOKEN), "127.0.0.1", 0)
    daemon.start()
    server.start_in_thread()
    try:
        yield Scanner(daemon, server, emulator, server.url)
    finally:
        server.stop()
        daemon.close()
        emulator.stop()


@pytest.fixture(autouse=True)
def _no_scan_left_running(request) -> Iterator[None]:
    """A test that fails mid-scan must not fail the next ones: its scan is stopped."""
    yield
    if "scanner" not in request.fixturenames:
        return
    scanner = request.getfixturevalue("scanner")
    with scanner.client() as c:
        st = c.get("/api/v1/status").json()
        if st["state"] == "scanning":
            c.post(f"/api/v1/scans/{st['scan_id']}/stop")
        if st["state"] != "idle":
            scanner.wait_state(c, {"idle", "error"}, timeout_s=120)
