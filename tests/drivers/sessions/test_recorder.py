"""Recording, crash recovery, replay and storage: nothing recorded is ever lost."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from drivers.frames import CameraFrame, ImuSample, LidarSweep
from drivers.sessions import rosmsg
from drivers.sessions.manifest import Calibration, SessionState, read_manifest, write_manifest
from drivers.sessions.recorder import SessionRecorder
from drivers.sessions.recording import RecordingWriter, read_frames
from drivers.sessions.recovery import recover_all, recover_session, salvage_mcap
from drivers.sessions.replay import SessionSource
from drivers.source import Sensor, Tagged

REPO = Path(__file__).resolve().parents[3]
CAL = Calibration(T_lidar_imu=np.eye(4).tolist())


def sweep(i: int, n: int = 2000, seed: int = 0) -> LidarSweep:
    rng = np.random.default_rng(seed + i)
    return LidarSweep(
        t_ns=i * 100_000_000,
        xyz_m=rng.uniform(-10, 10, (n, 3)).astype(np.float32).astype(np.float64),
        intensity=rng.uniform(0, 150, n).astype(np.float32),
        point_dt_s=np.sort(rng.uniform(0, 0.1, n)).astype(np.float32),
        line=(np.arange(n) % 4).astype(np.uint8),
        tag=np.zeros(n, np.uint8),
        index=i,
    )


def imu(k: int) -> ImuSample:
    return ImuSample(k * 5_000_000, np.array([0.01, -0.02, 0.03]) * k, np.array([0.1, 0.2, 9.8]))


def record(dirpath: Path, n_sweeps: int, **kw) -> SessionRecorder:
    rec = SessionRecorder(dirpath, dirpath.name, CAL, [], **kw)
    for i in range(n_sweeps):
        rec.write(Tagged(Sensor.lidar, sweep(i)))
        for k in range(20 * i, 20 * i + 20):
            rec.write(Tagged(Sensor.imu, imu(k)))
    return rec


def test_an_independent_reader_reads_back_exactly_what_was_written(tmp_path):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    rec = record(tmp_path / "s", 5)
    rec.write(Tagged(Sensor.camera, CameraFrame(123, b"\xff\xd8fakejpeg\xff\xd9", 4, 3, 0.002)))
    m = rec.close()
    assert m.state == SessionState.recorded and m.stats["lidar_sweeps"] == 5
    got_sweeps, got_imu = [], []
    with open(tmp_path / "s" / "raw.mcap", "rb") as f:
        for _, ch, _, msg in make_reader(
            f, decoder_factories=[DecoderFactory()]
        ).iter_decoded_messages():
            if ch.topic == rosmsg.LIDAR_TOPIC:
                pts = np.frombuffer(bytes(msg.data), dtype=rosmsg.LIVOX_POINT)
                got_sweeps.append(pts)
            elif ch.topic == rosmsg.IMU_TOPIC:
                got_imu.append(msg)
            elif ch.topic == rosmsg.IMAGE_TOPIC:
                assert bytes(msg.data) == b"\xff\xd8fakejpeg\xff\xd9" and msg.format == "jpeg"
    assert len(got_sweeps) == 5 and len(got_imu) == 100
    for i, pts in enumerate(got_sweeps):
        s = sweep(i)
        np.testing.assert_array_equal(pts["x"], s.xyz_m[:, 0].astype(np.float32))
        np.testing.assert_array_equal(pts["intensity"], s.intensity)
        np.testing.assert_array_equal(pts["line"], s.line)
        np.testing.assert_allclose(
            pts["timestamp"], s.t_ns + np.round(s.point_dt_s.astype(float) * 1e9)
        )
    a = got_imu[7]
    assert (a.angular_velocity.x, a.linear_acceleration.z) == (0.01 * 7, 9.8)
    assert a.header.stamp.nanosec == 7 * 5_000_000


CHILD = """
import sys, time, numpy as np
sys.path.insert(0, {repo!r})
from tests.drivers.sessions.test_recorder import CAL, imu, sweep
from drivers.source import Sensor, Tagged
from drivers.sessions.recorder import SessionRecorder
rec = SessionRecorder({path!r}, "killed", CAL, [])
i = 0
while True:
    rec.write(Tagged(Sensor.lidar, sweep(i, n=5000)))
    for k in range(20 * i, 20 * i + 20):
        rec.write(Tagged(Sensor.imu, imu(k)))
    i += 1
    time.sleep(0.1)  # a real-rate sensor
"""


def test_sigkill_loses_at_most_the_last_second_and_is_recovered(tmp_path):
    path = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(repo=str(REPO), path=str(path))])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # let it record about 2.5 s of data
            time.sleep(0.2)
            if (path / "raw.mcap").exists() and (path / "raw.mcap").stat().st_size > 600_000:
                break
        time.sleep(1.0)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert read_manifest(path).state == SessionState.recording  # never closed
    recovered = recover_all(tmp_path)
    assert [p for p, _ in recovered] == [path]
    result = recovered[0][1]
    m = read_manifest(path)
    assert m.state == SessionState.recovered
    assert m.stats["recovered_messages"] == result.messages > 0
    assert (path / "raw.mcap.unclosed").exists()  # the original is kept
    # every recovered sweep is whole and in order; at most ~1 s (+1 sweep) was lost
    sweeps = [f for _, f in read_frames(path / "raw.mcap", (rosmsg.LIDAR_TOPIC,))]
    assert len(sweeps) >= 10
    for i, s in enumerate(sweeps):
        np.testing.assert_array_equal(s.xyz_m, sweep(i, n=5000).xyz_m.astype(np.float32))
    # and it can be processed like any other session (here: replayed)
    assert sum(t.sensor == Sensor.lidar for t in SessionSource(path).frames()) == len(sweeps)


def test_truncation_at_any_offset_is_recovered_without_crashing(tmp_path):
    rec = record(tmp_path / "full", 12, flush_period_s=0.0)  # a chunk per frame
    rec.close()
    data = (tmp_path / "full" / "raw.mcap").read_bytes()
    rng = np.random.default_rng(0)
    last = -1
    for cut in sorted(rng.integers(0, len(data), 25)):
        src, dst = tmp_path / f"cut{cut}.mcap", tmp_path / f"fixed{cut}.mcap"
        src.write_bytes(data[:cut])
        result = salvage_mcap(src, dst)  # never raises
        assert result.messages >= last  # a longer file never gives less
        last = result.messages
        n = sum(1 for _ in read_frames(dst))
        assert n == result.messages


def test_a_write_error_stops_recording_cleanly_and_keeps_what_was_flushed(tmp_path, monkeypatch):
    rec = record(tmp_path / "s", 3, flush_period_s=0.0)
    calls = {"n": 0}
    real = RecordingWriter.write_sweep

    def failing(self, s):
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError(28, "No space left on device")
        real(self, s)

    monkeypatch.setattr(RecordingWriter, "write_sweep", failing)
    rec.write(Tagged(Sensor.lidar, sweep(3)))  # fine
    rec.write(Tagged(Sensor.lidar, sweep(4)))  # the disk is full: no exception; it asks to stop
    rec.write(Tagged(Sensor.lidar, sweep(5)))
    assert rec.disk_low and rec.stats.write_errors == 1 and rec.stats.dropped == 1
    m = rec.close()
    assert m.state == SessionState.failed
    n = sum(1 for _, f in read_frames(tmp_path / "s" / "raw.mcap", (rosmsg.LIDAR_TOPIC,)))
    assert n == 4


def test_the_free_space_guard_asks_the_scan_to_stop(tmp_path):
    rec = record(tmp_path / "s", 2, flush_period_s=0.0, min_free_bytes=10**18)
    assert rec.disk_low
    assert rec.close().state == SessionState.recorded  # the data is fine: it just must stop


def test_manifest_writes_are_atomic(tmp_path, monkeypatch):
    rec = record(tmp_path / "s", 1)
    m = rec.close()
    before = (tmp_path / "s" / "session.json").read_bytes()

    def boom(*a, **k):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        write_manifest(tmp_path / "s", m.model_copy(update={"state": SessionState.done}))
    assert (tmp_path / "s" / "session.json").read_bytes() == before
    assert [p.name for p in (tmp_path / "s").iterdir() if p.name.startswith(".session")] == []


def test_replay_paces_at_the_recorded_rate(tmp_path):
    record(tmp_path / "s", 4).close()
    arrivals, frames = [], []
    t_start = time.monotonic()  # before the source's own clock starts
    for t in SessionSource(tmp_path / "s", rate=2.0, sensors=(Sensor.lidar,)).frames():
        arrivals.append(time.monotonic())
        frames.append(t.frame)
    assert [f.index for f in frames] == [0, 1, 2, 3]
    # 0.3 s of data at twice real time: the last frame never sooner than 0.15 s after the start
    # (from the first arrival would be flaky: a slow first decode shortens that span)
    assert arrivals[-1] - t_start >= 0.149
    fast = list(SessionSource(tmp_path / "s", rate=0.0, sensors=(Sensor.lidar,)).frames())
    assert len(fast) == 4  # rate 0: as fast as possible


def test_recover_session_on_a_closed_session_is_not_needed(tmp_path):
    record(tmp_path / "s", 1).close()
    assert recover_all(tmp_path) == []
    with pytest.raises(FileNotFoundError):
        recover_session(tmp_path / "missing")


def test_the_recording_dates_its_clock_against_utc(tmp_path):
    """The session keeps the (monotonic, UTC) pair read when the recording started, so a frame's
    time on the host clock maps to UTC exactly (LAS GPS times come from it), not from
    created_utc, which is to the second and taken at another moment."""
    rec = record(tmp_path / "s", 2)
    expected_s = time.time() - time.monotonic()  # UTC - the host's monotonic clock
    m = rec.close()
    assert m.clock is not None
    assert abs(m.utc_offset_s - expected_s) < 0.01
    assert read_manifest(tmp_path / "s").utc_offset_s == m.utc_offset_s  # kept in session.json
