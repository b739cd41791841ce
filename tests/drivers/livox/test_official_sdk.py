"""Interop: the official Livox SDK2 (py-livox2) discovers, configures and streams the emulator.

The SDK cannot be pointed at a unicast address for discovery: it broadcasts to
255.255.255.255:56000 every second from host_ip:56000 and binds fixed ports (56000, 44332 and
the JSON's). So it runs in a child process inside a private network namespace that holds
only a loopback interface (``unshare -rn``), where the broadcast stays on lo and reaches the
emulator's broadcast listener; nothing can leave the machine, and the fixed ports cannot
collide with anything else on it. Without namespaces the test is skipped.
"""

from __future__ import annotations

import os
import pickle
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from drivers.frames import LidarSweep
from drivers.livox.commands import DEVICE_TYPE_MID360
from drivers.livox.packets import (
    CARTESIAN_HIGH_POINT,
    DATA_HEADER_SIZE,
    decode_imu,
    decode_points,
    parse_data_header,
)

REPO = Path(__file__).resolve().parents[3]


def _netns_command() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare(1) not found; the SDK's discovery broadcast needs a private netns")
    probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(
            "cannot create a private network namespace (unshare -rn: "
            f"{probe.stderr.strip() or probe.returncode}); the official SDK broadcasts "
            "discovery to 255.255.255.255 and binds fixed ports, so it only runs isolated"
        )
    return [unshare, "-rn", "--"]


@pytest.fixture(scope="module")
def sdk_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    pytest.importorskip("livox_sdk", reason="py-livox2 (the official SDK2 bindings) missing")
    out = tmp_path_factory.mktemp("sdk") / "result.pkl"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [*_netns_command(), sys.executable, "-m", "tests.drivers.livox._sdk_child", str(out)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"SDK child failed:\n{proc.stdout}\n{proc.stderr}"
    return pickle.loads(out.read_bytes())


def test_sdk_discovers_and_configures_the_emulator(sdk_run: dict) -> None:
    handle = struct.unpack("<I", socket.inet_aton("127.0.0.2"))[0]  # the SDK's handle: the ip
    assert sdk_run["info"] == [(handle, DEVICE_TYPE_MID360)]
    assert sdk_run["statuses"] == [0, 0, 0]
    state = sdk_run["state"]
    # what the SDK's Mid-360 handler sets after discovery (keys 0x0005-0x0007), then the user
    assert state.push_dest == ("127.0.0.1", 56201)
    assert state.point_dest == ("127.0.0.1", 56301)
    assert state.imu_dest == ("127.0.0.1", 56401)
    assert state.data_type == 1 and state.work_mode == 1 and state.imu_enabled
    assert {0x0005, 0x0006, 0x0007, 0x0000, 0x001A, 0x001C} <= state.set_keys
    counters = sdk_run["counters"]
    assert counters.bad_commands == 0 and counters.discovery_replies >= 2
    assert counters.push_sent >= 1
    assert sdk_run["finished"]


def test_sdk_receives_every_point_as_sent(sdk_run: dict) -> None:
    sent = {parse_data_header(b).timestamp_ns: b for b in sdk_run["sent_points"]}
    got = sdk_run["points"]
    assert len(sent) > 50 and len(got) == len(sent)
    for ts, dot_num, time_interval, raw in got:
        packet = sent[ts]
        header = parse_data_header(packet)
        assert (dot_num, time_interval) == (header.dot_num, header.time_interval)
        assert raw == packet[DATA_HEADER_SIZE:]
        ours = decode_points(packet)
        theirs = np.frombuffer(raw, dtype=CARTESIAN_HIGH_POINT)
        xyz_sdk = np.stack([theirs["x"], theirs["y"], theirs["z"]], axis=-1) / 1000.0
        np.testing.assert_array_equal(ours.xyz_m, xyz_sdk.astype(np.float32))
        np.testing.assert_array_equal(ours.reflectivity, theirs["reflectivity"])
        i = np.arange(dot_num)
        np.testing.assert_array_equal(ours.t_ns, ts + i * (time_interval * 100 // dot_num))


def test_sdk_points_match_the_source(sdk_run: dict) -> None:
    """Everything the SDK got, in order, is the source's points at the source's times."""
    sweeps = [f for f in sdk_run["source"] if isinstance(f, LidarSweep)]
    xyz_src = np.concatenate([s.xyz_m for s in sweeps])  # [N, 3]
    t_src = np.concatenate(
        [s.t_ns + np.rint(s.point_dt_s.astype(np.float64) * 1e9).astype(np.int64) for s in sweeps]
    )
    got = sorted(sdk_run["points"])
    raw = np.frombuffer(b"".join(r for *_, r in got), dtype=CARTESIAN_HIGH_POINT)
    xyz = np.stack([raw["x"], raw["y"], raw["z"]], axis=-1) / 1000.0
    t = (
        np.concatenate([ts + np.arange(n) * (ti * 100 // n) for ts, n, ti, _ in got])
        - sdk_run["lidar_time_offset_ns"]
    )
    assert len(xyz) == len(xyz_src)
    assert np.abs(xyz - xyz_src).max() <= 0.5e-3 + 1e-9
    assert np.abs(t - t_src).max() <= 10  # ns; float32 point_dt_s rounding


def test_sdk_receives_imu_in_g(sdk_run: dict) -> None:
    sent = {decode_imu(b).t_ns: decode_imu(b) for b in sdk_run["sent_imu"]}
    got = sdk_run["imu"]
    assert len(sent) >= 100 and len(got) == len(sent)
    for ts, gyr, acc in got:
        ours = sent[ts]
        np.testing.assert_array_equal(np.float32(gyr), np.float32(ours.gyro_radps))
        np.testing.assert_array_equal(np.float32(acc), np.float32(ours.acc_g))
        np.testing.assert_allclose(acc, [0.0, 0.0, 1.0], atol=1e-7)  # g, as the device sends
        np.testing.assert_allclose(ours.acc_mps2, [0.0, 0.0, 9.80665], atol=1e-5)
