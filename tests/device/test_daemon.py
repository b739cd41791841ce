"""The daemon without the network: commands, the button's meaning, storage, systemd, recovery.

The sensors are a stand-in hub that replays a twin session at its own pace (the API tests run
the real drivers against the emulators)."""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from device.button import Press
from device.config import ScannerConfig
from device.daemon import Daemon, NotFoundError
from device.jobs import ScanBusyError
from device.state import State, TransitionError
from device.storage import StorageFullError
from drivers.sessions.manifest import SessionState, read_manifest, write_manifest
from drivers.sessions.replay import SessionSource
from drivers.source import Sensor, Tagged


class ReplayHub:
    """A Source in SensorHub's place: a session's frames played in real time, looping, with
    their times moved onto the host clock as the drivers' are."""

    def __init__(self, session) -> None:
        self.frames_list = list(SessionSource(session).frames())
        self._q: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._play, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _play(self) -> None:
        t0_data, t0_wall, shift = self.frames_list[0].t_ns, time.monotonic_ns(), 0
        span = self.frames_list[-1].t_ns - t0_data + 100_000_000
        while not self._stop.is_set():
            for tagged in self.frames_list:
                t_ns = tagged.t_ns - t0_data + shift
                wait = (t0_wall + t_ns - time.monotonic_ns()) * 1e-9
                if wait > 0 and self._stop.wait(wait):
                    return
                self._q.put(Tagged(tagged.sensor, replace(tagged.frame, t_ns=t0_wall + t_ns)))
            shift += span

    def frames(self):
        while not self._stop.is_set():
            try:
                yield self._q.get(timeout=0.2)
            except queue.Empty:
                continue

    def health(self) -> dict:
        return {}

    def close(self) -> None:
        self._stop.set()


@pytest.fixture
def make_daemon(twin_session, tmp_path):
    made = []

    def make(**overrides) -> Daemon:
        config = ScannerConfig(
            data_dir=tmp_path / "data", storage_reserve_mb=0, shutdown_command=[], **overrides
        )
        d = Daemon(config, hub=ReplayHub(twin_session))
        made.append(d)
        return d.start()

    yield make
    for d in made:
        d.close()


def wait_for(predicate, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_short_press_starts_and_the_next_stops(make_daemon):
    d = make_daemon()
    assert d.press(Press.short).startswith("started")
    assert d.sm.state == State.scanning
    wait_for(lambda: d.status().slam.poses > 20, 20)  # processing needs 1 s of IMU
    assert d.status().slam.first_pose_s < 3.0
    assert d.press(Press.short).startswith("stopping")
    assert d.press(Press.short).startswith("ignored")  # busy while stopping or processing
    wait_for(lambda: d.sm.state == State.idle)
    (scan,) = d.scans()
    assert scan.state == "done" and "map.ply" in scan.products
    # the products were made of the live SLAM's submaps: no second SLAM pass after the stop
    (session,) = (d.config.data_dir).glob(f"*{scan.id}*")
    slam = read_manifest(session).stats["slam"]
    assert slam["slam_source"] == "live" and slam["submaps"] >= 1


def test_errors_are_acknowledged_by_a_press(make_daemon):
    d = make_daemon()
    d.sm.move(State.starting)
    d.sm.move(State.error, error="simulated")
    assert d.status().error == "simulated"
    assert d.press(Press.short) == "error acknowledged"
    assert d.sm.state == State.idle


def test_a_long_press_closes_the_scan_before_shutting_down(make_daemon):
    d = make_daemon()
    sid = d.start_scan().id
    time.sleep(0.5)
    assert "no command" in d.press(Press.long)
    assert d.sm.state == State.idle
    m = read_manifest(d.store.root / sid)
    assert m.state == SessionState.recorded and m.stats["lidar_sweeps"] > 0


def test_commands_check_their_preconditions(make_daemon):
    d = make_daemon()
    with pytest.raises(TransitionError):
        d.stop_scan()
    with pytest.raises(NotFoundError):
        d.stop_scan("nope")
    with pytest.raises(NotFoundError):
        d.scan("../etc")
    sid = d.start_scan().id
    with pytest.raises(TransitionError):
        d.start_scan()
    with pytest.raises(Exception, match="recording"):
        d.delete_scan(sid)
    for bad in ("..", "../session.json", "a/b", ".hidden", ""):
        with pytest.raises(NotFoundError):
            d.product_path(sid, bad)


def test_no_scan_starts_without_room(make_daemon):
    d = make_daemon()
    d.store.reserve_bytes = shutil.disk_usage(d.store.root).free + 10**12
    with pytest.raises(StorageFullError):
        d.start_scan()
    assert d.sm.state == State.idle and d.scans() == []


def test_a_full_disk_stops_the_scan_and_keeps_what_was_recorded(make_daemon):
    d = make_daemon()
    sid = d.start_scan().id
    time.sleep(0.5)
    d._scan.recorder.min_free_bytes = shutil.disk_usage(d.store.root).free + 10**12
    wait_for(lambda: d.sm.state != State.scanning, 10)  # the next flush notices
    wait_for(lambda: d.sm.state in (State.idle, State.error))
    m = read_manifest(d.store.root / sid)
    assert m.stats["lidar_sweeps"] >= 5  # what was recorded is kept


def test_closing_mid_scan_leaves_a_readable_session(make_daemon):
    d = make_daemon()
    sid = d.start_scan().id
    time.sleep(1.0)
    d.close()
    m = read_manifest(d.store.root / sid)
    assert m.state == SessionState.recorded and m.stats["lidar_sweeps"] >= 5


def test_a_session_cut_off_by_a_power_loss_is_recovered_at_start(make_daemon, tmp_path):
    d = make_daemon()
    sid = d.start_scan().id
    time.sleep(1.5)
    d._scan.recorder.flush()
    # power loss: copy what is on disk now, before anything is closed
    cut = tmp_path / "data" / "cut"
    shutil.copytree(d.store.root / sid, cut)
    d.close()
    shutil.rmtree(d.store.root / sid)
    d2 = make_daemon()
    (scan,) = d2.scans()
    assert scan.state == "recovered" and scan.stats["recovered_messages"] > 100
    # a recovered scan is processed when asked (POST /scans/{id}/process, the UI's button)
    d2.process_scan(scan.id)
    with pytest.raises(ScanBusyError):
        d2.process_scan(scan.id)  # once is enough
    wait_for(lambda: d2.scan(scan.id).state == "done", 120)
    assert "map.ply" in d2.scan(scan.id).products
    assert d2.sm.state == State.idle  # in the background: the scanner stayed free


def test_scans_are_named_by_their_folders_so_a_copied_session_is_its_own_scan(
    make_daemon, twin_session, tmp_path
):
    """A folder copied from another session (a backup, a duplicate) keeps the manifest's id:
    listed by that id, both rows would point at one folder and a delete would hit the other."""
    for name in ("copy-a", "copy-b"):
        path = tmp_path / "data" / name
        shutil.copytree(twin_session, path)
        write_manifest(path, read_manifest(path).model_copy(update={"state": SessionState.done}))
    d = make_daemon()
    assert [s.id for s in d.scans()] == ["copy-b", "copy-a"]  # newest first
    assert d.scan("copy-a").id == "copy-a"
    d.delete_scan("copy-a")
    assert [s.id for s in d.scans()] == ["copy-b"]
    assert (tmp_path / "data" / "copy-b").is_dir() and not (tmp_path / "data" / "copy-a").exists()


def test_a_scan_whose_processing_was_killed_is_processed_at_the_next_start(
    make_daemon, twin_session, tmp_path
):
    """kill -9 during processing (a crash, a power cut) leaves the session `processing`; the
    next start makes its products, in the background."""
    session = tmp_path / "data" / read_manifest(twin_session).id
    shutil.copytree(twin_session, session)
    code = (
        "import sys; from pathlib import Path; from device.config import ScannerConfig;"
        "from device.processing import process_session;"
        "process_session(Path(sys.argv[1]), ScannerConfig())"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(session)])
    wait_for(lambda: read_manifest(session).state == SessionState.processing, 60)
    time.sleep(1.0)  # well into SLAM
    proc.kill()
    proc.wait()
    assert read_manifest(session).state == SessionState.processing  # cut off
    d = make_daemon()
    wait_for(lambda: read_manifest(session).state == SessionState.done, 120)
    assert (session / "products" / "map.ply").is_file()
    assert d.sm.state == State.idle


def test_systemd_hears_ready_and_the_state(make_daemon, tmp_path, monkeypatch):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5.0)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    d = make_daemon()
    got = []
    while not any("READY=1" in g for g in got):
        got.append(sock.recv(4096).decode())
    d.start_scan()
    while not any("STATUS=scanning" in g for g in got):
        got.append(sock.recv(4096).decode())
    sock.close()
    os.unlink(path)


def test_the_online_splat_trains_during_the_scan(make_daemon, twin_session):
    """With [splat] online, the scan's products get a splat while it runs (the worker's own
    behaviour is tested in test_splat_worker.py; this is the daemon's wiring)."""
    from splat.config import SplatConfig

    cal = read_manifest(twin_session).calibration.camera
    splat = SplatConfig(
        online=True, device="cpu", online_image_scale=0.25, online_iters_per_keyframe=5,
        online_export_every_s=1.0,
    )  # fmt: skip
    d = make_daemon(splat=splat, camera_calibration=cal)
    assert d.splat is not None and d.splat.alive
    d.start_scan()
    scan_dir = d.store.root / d.current_scan_id()
    wait_for(lambda: (scan_dir / "products" / "scene.splat").exists(), 60)
    assert d.sm.state == State.scanning  # downloadable while the scan runs
    d.stop_scan()
    wait_for(lambda: (scan_dir / "products" / "splat_live.json").exists(), 60)
    wait_for(lambda: d.sm.state == State.idle, 90)
    assert d.splat.dropped == 0


def test_marks_are_on_disk_at_once_and_placed_on_the_final_trajectory(make_daemon):
    from drivers.sessions.marks import (
        EDGE_S,
        MarkError,
        MarkNameTakenError,
        read_marks,
        read_marks_csv,
    )
    from drivers.sessions.trajectory import read_tum

    d = make_daemon()
    with pytest.raises(TransitionError):  # no scan: nothing to mark
        d.mark(name="CP1")
    sid = d.start_scan().id
    from device.georef import GeorefSettings

    with pytest.raises(ScanBusyError):  # recording: nothing to georeference yet
        d.georef(sid, "name,easting,northing,height\n", GeorefSettings())
    wait_for(lambda: d.status().slam.poses > 10, 20)
    assert d.mark(sid, "CP1").name == "CP1"
    assert [m.name for m in read_marks(d.store.root / sid)] == ["CP1"]  # before stop
    with pytest.raises(MarkNameTakenError):
        d.mark(sid, "CP1")
    with pytest.raises(MarkError):
        d.mark(sid, "a,b")
    with pytest.raises(NotFoundError):
        d.mark("no-such-scan", "CP2")
    time.sleep(1.0)
    assert d.press(Press.double) == "marked M01"  # the button's double press names it
    time.sleep(1.0)
    assert d.press(Press.double) == "marked M02"
    assert d.live_position(d.marks(sid)[0][0]) is not None
    d.stop_scan(sid)
    wait_for(lambda: d.sm.state == State.idle)
    assert d.press(Press.double).startswith("ignored")  # not scanning
    marks = d.marks(sid)
    assert [m.name for m, _ in marks] == ["CP1", "M01", "M02"]
    assert [m.source for m, _ in marks] == ["api", "button", "button"]
    products = d.store.root / sid / "products"
    t, T = read_tum(products / "trajectory.tum")
    for m, xyz in marks:
        # on the sensors' clock: a mark just before the stop may follow the last sweep's middle
        assert xyz is not None and t[0] <= m.t_s <= t[-1] + EDGE_S
        k = min(np.searchsorted(t, m.t_s), len(t) - 1)  # the reference point: below the lidar
        near = T[k, :3, :3] @ np.array(d.config.reference_point_lidar_m) + T[k, :3, 3]
        assert np.linalg.norm(xyz - near) < 0.2  # within one sweep's walk of the pose
    assert set(read_marks_csv(products / "marks.csv")) == {"CP1", "M01", "M02"}
    assert "M02" in (products / "report.html").read_text()


def test_a_mark_the_disk_refuses_is_not_taken_and_the_scan_goes_on(make_daemon, monkeypatch):
    import device.daemon

    d = make_daemon()
    sid = d.start_scan().id
    wait_for(lambda: d.status().slam.poses > 5, 20)

    def full(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(device.daemon, "append_mark", full)
    with pytest.raises(OSError):
        d.mark(sid, "CP1")
    assert d.press(Press.double).startswith("ignored: [Errno 28]")
    monkeypatch.undo()
    assert d.mark(sid, "CP1").name == "CP1"  # the name was not taken by the failed one
    assert d.sm.state == State.scanning
    d.stop_scan(sid)
    wait_for(lambda: d.sm.state == State.idle)
    assert [m.name for m, _ in d.marks(sid)] == ["CP1"]


def test_the_recording_holds_the_imu_the_live_filter_started_on(make_daemon):
    """SLAM run again over the recording (processing, when the live SLAM missed a sweep) must
    start as the live one did: on the IMU kept while idle (a mark taken at once is placed)."""
    d = make_daemon()
    time.sleep(1.2)  # idle: the IMU is kept
    sid = d.start_scan().id
    wait_for(lambda: d.status().slam.poses > 5, 20)
    d.stop_scan(sid)
    wait_for(lambda: d.sm.state == State.idle)
    first: dict = {}
    for tagged in SessionSource(d.store.root / sid).frames():
        first.setdefault(tagged.sensor, tagged.t_ns)
        if Sensor.lidar in first and d._slam_imu in first:
            break
    assert first[Sensor.lidar] - first[d._slam_imu] > 0.8e9
