"""`scanner demo` as a user runs it, and stops it: nothing it started outlives it.

The demo is a process tree: the daemon, its SLAM, splat and processing workers, and the
emulator it plays the twin through. One Ctrl-C must end them all; so must a SIGTERM followed by
a SIGKILL (systemd's stop), and then the lidar's ports are free again.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from device.demo import DEMO_SECONDS, HOST_IP, LIDAR_IP


def descendants(pid: int) -> set[int]:
    """Every process below pid, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has finished; only its parent's wait is missing


@pytest.fixture
def demo(twin_session, tmp_path):
    """`scanner demo` on the 6 s twin walk (placed where the demo caches its own), in a process
    group of its own as a terminal would start it; -> (process, base url, token)."""
    data = tmp_path / "demo"
    cached = tmp_path / "cache" / "demo" / f"office-walk-{DEMO_SECONDS:.0f}s-seed0"
    shutil.copytree(twin_session, cached)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from device.cli import app; app()", "demo", "--port", "0",
         "--data-dir", str(data)],
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    url = None
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        if m := re.search(r"web UI: (http://\S+)/#token=(\S+)", line):
            url = m.groups()
            break
        assert time.monotonic() < deadline, "the demo did not come up"
    assert url is not None, "the demo exited before it served"
    yield proc, *url
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def start_scan_and_process(url: str, token: str) -> None:
    """A short scan, stopped: its products are being made when the test stops the demo."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        assert c.post("/api/v1/scans").status_code == 201
        time.sleep(3.0)
        assert c.post("/api/v1/button", json={"press": "short"}).status_code == 200
        deadline = time.monotonic() + 30
        while c.get("/api/v1/status").json()["state"] != "processing":
            assert time.monotonic() < deadline
            time.sleep(0.1)


def lidar_ports_free() -> bool:
    """The emulated Mid-360's and the driver's UDP ports can be bound again."""
    for ip, offset in ((LIDAR_IP, 0), (HOST_IP, 1)):
        for port in (56000, 56100, 56200, 56300, 56400):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind((ip, port + offset))
            except OSError:
                return False
            finally:
                s.close()
    return True


def test_one_ctrl_c_stops_the_demo_and_everything_it_started(demo):
    proc, url, token = demo
    start_scan_and_process(url, token)
    tree = descendants(proc.pid)
    assert len(tree) >= 3  # the emulator, the SLAM worker, the processing job at least
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends
    proc.wait(timeout=30)
    while any(alive(p) for p in tree) and time.monotonic() - t0 < 30:
        time.sleep(0.1)
    assert not [p for p in tree if alive(p)], "outlived the demo"
    assert time.monotonic() - t0 < 30
    assert lidar_ports_free()


def test_children_die_with_a_killed_demo(demo):
    """kill -9 (a crash, the OOM killer, systemd's SIGKILL after its stop timeout): the daemon
    closes nothing, and still nothing it started runs on."""
    proc, url, token = demo
    start_scan_and_process(url, token)
    tree = descendants(proc.pid)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in tree if alive(p)], "outlived the demo"
    assert lidar_ports_free()
