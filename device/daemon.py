"""The scanner daemon: one object that owns the sensors, the scan, live SLAM and processing.

    sensors (driver threads) ──► ingest thread ──► recorder (raw.mcap, fsync every second)
                                              └──► SLAM worker (process) ──► live buffer, status
    stop ──► close the recording ──► processing job (process) ──► products ──► idle

Every public method is thread-safe and quick, so the API (asyncio), the button thread and
tests can call them directly. The sensors run from `start()` to `close()`, so their health
shows while idle and a scan starts from warm drivers; the last second of IMU is kept so the
filter initialises on the first sweep.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from device.button import Button, Press, StatusLed
from device.config import ScannerConfig
from device.live import LiveBuffer, LivePose
from device.notify import SystemdNotifier
from device.processing import ProcessingJob, product_names
from device.sensors import SensorHub
from device.sessions.manifest import (
    PRODUCTS,
    Calibration,
    SensorInfo,
    SessionManifest,
    SessionState,
    read_manifest,
    write_manifest,
)
from device.sessions.recorder import SessionRecorder
from device.sessions.recovery import recover_all
from device.sessions.replay import MID360_T_LIDAR_IMU
from device.sessions.storage import SessionStore, StorageFullError
from device.slam_worker import Ended, SlamWorker, Step
from device.splat_worker import SplatWorker
from device.state import State, StateMachine, TransitionError
from drivers.frames import CameraFrame, ImuSample, LidarSweep

log = logging.getLogger(__name__)

IMU_BACKLOG_S = 1.5  # IMU kept while idle, so the filter can initialise at once


class ScanNotFoundError(KeyError):
    """No scan with this id."""


class ScanBusyError(RuntimeError):
    """The scan cannot be changed now (it is recording or processing)."""


@dataclass(frozen=True)
class SensorHealth:
    connected: bool
    rate_hz: float
    drops: int
    errors: int
    messages: int


def sensor_health(status: object) -> SensorHealth:
    """One shape for every driver's status."""
    if hasattr(status, "sweep_rate_hz"):  # the Mid-360
        return SensorHealth(
            status.connected,
            status.sweep_rate_hz,
            status.point_drops + status.imu_drops + status.frames_dropped,
            status.errors.total,
            status.sweeps,
        )
    if hasattr(status, "checksum_errors"):  # the serial IMU
        return SensorHealth(
            status.connected,
            status.rate_hz,
            status.gaps + status.dropped,
            status.checksum_errors + status.decode_errors + status.device_errors,
            status.samples,
        )
    return SensorHealth(  # the camera
        status.connected, status.rate_hz, status.drops, status.errors, status.frames
    )


@dataclass
class ActiveScan:
    id: str
    dir: Path
    recorder: SessionRecorder
    started_monotonic: float
    first_pose_monotonic: float | None = None
    last_step: Step | None = None
    slam_error: str | None = None
    stop_requested: bool = False
    health_at_start: dict[str, SensorHealth] = field(default_factory=dict)


@dataclass
class Counters:
    frames: dict[str, int] = field(default_factory=dict)
    scans_started: int = 0
    scans_failed: int = 0
    slam_frames_dropped: int = 0
    button_presses: int = 0


class Daemon:
    """See the module docstring. `start()`, then the commands, then `close()`."""

    def __init__(
        self, config: ScannerConfig, *, hub: SensorHub | None = None, button: Button | None = None
    ) -> None:
        self.config = config
        self.store = SessionStore(config.data_dir, reserve_bytes=config.storage_reserve_mb * 10**6)
        self.sm = StateMachine()
        self.live = LiveBuffer()
        self.counters = Counters()
        self.hub = hub or SensorHub(config.lidar, config.imu, config.camera)
        self.slam = SlamWorker(config.slam, self._on_slam)
        # the online splat: only with a calibrated camera to train on
        self.splat: SplatWorker | None = None
        if config.splat.online and config.camera.enabled and config.camera_calibration is not None:
            self.splat = SplatWorker(config.splat)
        self.led = StatusLed(config.led)
        self.button = button or (
            Button(config.button, self.press) if config.button.enabled else None
        )
        self.notifier = SystemdNotifier()
        self.sm.subscribe(self._on_state)
        self._scan: ActiveScan | None = None
        self._scan_lock = threading.Lock()  # held while a frame is routed, and to swap _scan
        self._jobs: dict[str, ProcessingJob] = {}
        self._imu_backlog: deque[ImuSample] = deque()
        self._stop = threading.Event()
        self._ingest = threading.Thread(target=self._ingest_loop, name="ingest", daemon=True)
        self.started_monotonic = time.monotonic()
        # which IMU live SLAM fuses, and where it sits
        self._slam_imu_sensor, self._T_lidar_imu = "lidar", np.array(MID360_T_LIDAR_IMU)
        if config.slam.imu == "external":
            if config.imu.enabled and config.imu.T_lidar_imu is not None:
                self._slam_imu_sensor = "external_imu"
                self._T_lidar_imu = np.array(config.imu.T_lidar_imu)
            else:
                log.warning(
                    "slam.imu = external needs imu.enabled and imu.T_lidar_imu: using the"
                    " lidar's own IMU"
                )

    # --- life cycle ---------------------------------------------------------------------------
    def start(self, slam_ready_timeout_s: float = 120.0) -> Daemon:
        for path, result in recover_all(self.store.root):
            log.warning("%s: recovered after an unclean stop (%s)", path, result)
        self._requeue_interrupted()
        self.slam.start()
        if self.splat is not None:
            self.splat.start()
        self.hub.start()
        self._ingest.start()
        self.led.start()
        self.led.set_state(self.sm.state.value)
        if self.button is not None:
            self.button.start()
        if not self.slam.wait_ready(slam_ready_timeout_s):
            log.error("the SLAM worker is not ready after %.0f s", slam_ready_timeout_s)
        self.notifier.ready()
        self.notify_status()
        return self

    def close(self) -> None:
        """Stop a scan in progress (closing its recording), then every thread and process."""
        if self._stop.is_set():
            return
        self.notifier.stopping()
        with self._scan_lock:
            scan = self._scan
        if scan is not None:
            self._finish_recording(scan, "the daemon stopped")
        self._stop.set()
        if self.button is not None:
            self.button.stop()
        self.hub.stop()
        self._ingest.join(timeout=3.0)
        self.slam.stop()
        if self.splat is not None:
            self.splat.stop()
        for job in list(self._jobs.values()):
            job.finished.wait(timeout=60.0)
        self.led.stop()

    def _requeue_interrupted(self) -> None:
        """Sessions whose processing was cut off (power, crash) go back to `recorded`."""
        for path, m in self.store.sessions():
            if m.state == SessionState.processing:
                write_manifest(path, m.model_copy(update={"state": SessionState.recorded}))

    # --- commands -----------------------------------------------------------------------------
    def start_scan(self) -> SessionManifest:
        """Open a session, record, run live SLAM. TransitionError unless idle; StorageFullError."""
        self.sm.move(State.starting, expect=State.idle)
        try:
            self.store.check_can_record()
            sdir = self.store.new_session_dir()
            recorder = SessionRecorder(
                sdir,
                sdir.name,
                self._calibration(),
                self._sensor_info(),
                config_snapshot=self.config.model_dump(mode="json"),
                min_free_bytes=self.store.reserve_bytes,
            )
        except StorageFullError:
            self.sm.move(State.idle)
            raise
        except Exception as exc:
            self.sm.move(State.error, error=f"cannot start a scan: {exc}")
            self.counters.scans_failed += 1
            raise
        scan = ActiveScan(sdir.name, sdir, recorder, time.monotonic())
        scan.health_at_start = self._health()
        self.live.reset()
        with self._scan_lock:
            self.slam.begin(scan.id, self._T_lidar_imu, list(self._imu_backlog))
            if self.splat is not None:
                self.splat.begin(sdir / PRODUCTS, self.config.camera_calibration)
            self._scan = scan
        self.counters.scans_started += 1
        self.sm.move(State.scanning)
        log.info("scan %s started", scan.id)
        return recorder.manifest

    def stop_scan(self, scan_id: str | None = None, reason: str = "stopped") -> str:
        """Close the recording and process it, in the background. -> the scan's id."""
        with self._scan_lock:
            scan = self._scan
        if scan is None or (scan_id is not None and scan.id != scan_id):
            if scan_id is not None and not self._exists(scan_id):
                raise ScanNotFoundError(scan_id)
            raise TransitionError(self.sm.state, State.stopping)
        self.sm.move(State.stopping, expect=State.scanning)
        threading.Thread(
            target=self._stop_and_process, args=(scan, reason), name="stop", daemon=True
        ).start()
        return scan.id

    def press(self, kind: Press = Press.short) -> str:
        """The button: what the hardware button and POST /button do. -> what it did."""
        self.counters.button_presses += 1
        state = self.sm.state
        try:
            if kind == Press.long:
                return self.shutdown()
            if state == State.idle:
                return f"started {self.start_scan().id}"
            if state == State.scanning:
                return f"stopping {self.stop_scan()}"
            if state == State.error:
                self.sm.move(State.idle, expect=State.error)
                return "error acknowledged"
        except (TransitionError, StorageFullError) as exc:
            return f"ignored: {exc}"
        return f"ignored: busy ({state})"

    def shutdown(self) -> str:
        """The long press: stop any scan so its recording is closed, then power off."""
        with self._scan_lock:
            scan = self._scan
        if scan is not None:
            try:
                self.sm.move(State.stopping, expect=State.scanning)
                self._finish_recording(scan, "shutdown")
                self.sm.move(State.idle)
            except TransitionError:
                pass
        cmd = self.config.shutdown_command
        if not cmd:
            log.warning("long press: no shutdown command configured")
            return "shutdown: no command configured"
        log.warning("long press: running %s", " ".join(cmd))
        try:
            subprocess.Popen(cmd, start_new_session=True)
        except OSError as exc:
            log.error("shutdown command failed: %s", exc)
            return f"shutdown failed: {exc}"
        return "shutting down"

    def delete_scan(self, scan_id: str) -> None:
        path = self._path(scan_id)
        with self._scan_lock:
            if self._scan is not None and self._scan.id == scan_id:
                raise ScanBusyError(f"{scan_id} is recording: stop it first")
        job = self._jobs.get(scan_id)
        if job is not None and not job.finished.is_set():
            raise ScanBusyError(f"{scan_id} is being processed")
        if job is not None and job.training_splat:
            raise ScanBusyError(f"{scan_id}: its splat is being trained")
        self._jobs.pop(scan_id, None)
        shutil.rmtree(path)

    def process_scan(self, scan_id: str) -> None:
        """(Re)make a recorded scan's products in the background, as after a stop."""
        path = self._path(scan_id)
        self._start_job(scan_id, path, then_idle=False)

    # --- queries ------------------------------------------------------------------------------
    def current_scan_id(self) -> str | None:
        scan = self._scan
        return scan.id if scan is not None else None

    def scans(self) -> list[dict]:
        return [self._describe(p, m) for p, m in reversed(self.store.sessions())]

    def scan(self, scan_id: str) -> dict:
        path = self._path(scan_id)
        return self._describe(path, read_manifest(path))

    def product_path(self, scan_id: str, name: str) -> Path:
        """The product file; ScanNotFoundError for any name that is not a file in products/."""
        folder = self._path(scan_id) / PRODUCTS
        if not name or "/" in name or "\\" in name or name.startswith(".") or ".." in name:
            raise ScanNotFoundError(name)
        path = folder / name
        if not path.is_file():
            raise ScanNotFoundError(name)
        return path

    def status(self) -> dict:
        now = time.monotonic()
        scan = self._scan  # no lock: the ingest thread holds it while it writes each frame
        sensors = {}
        for name, st in self.hub.status().items():
            h = sensor_health(st)
            sensors[name] = {
                "connected": h.connected,
                "rate_hz": round(h.rate_hz, 2),
                "drops": h.drops,
                "errors": h.errors,
                "messages": h.messages,
            }
        storage = self.store.status()
        out = {
            "state": self.sm.state.value,
            "since_s": round(now - self.sm.since_monotonic, 3),
            "error": self.sm.error,
            "scan_id": scan.id if scan else None,
            "sensors": sensors,
            "slam": self._slam_status(scan, now),
            "recording": None,
            "storage": {
                "total_bytes": storage.total_bytes,
                "free_bytes": storage.free_bytes,
                "minutes_left": round(storage.minutes_left, 1),
            },
            "processing": None,
        }
        if scan is not None:
            st = scan.recorder.stats
            out["recording"] = {
                "duration_s": round(now - scan.started_monotonic, 2),
                "bytes": st.bytes_written,
                "messages": st.messages,
                "write_errors": st.write_errors,
            }
        for sid, job in self._jobs.items():
            if not job.finished.is_set():
                out["processing"] = {"scan_id": sid, "stage": job.stage, "progress": job.fraction}
        return out

    def _slam_status(self, scan: ActiveScan | None, now: float) -> dict | None:
        step = scan.last_step if scan else None
        pose = self.live.pose
        if scan is None:
            return None
        out = {
            "mode": None,
            "pose": None,
            "distance_m": round(self.live.distance_m, 3),
            "map_points": self.live.n_points,
            "realtime_factor": None,
            "degenerate": False,
            "imu_ok": None,
            "lag_s": None,
            "poses": len(self.live.positions),
            "dropped_frames": self.slam.dropped,
            "first_pose_s": None
            if scan.first_pose_monotonic is None
            else round(scan.first_pose_monotonic - scan.started_monotonic, 3),
            "error": scan.slam_error,
        }
        if step is not None:
            out.update(
                mode="LiDAR-inertial" if step.inertial else "lidar-only",
                realtime_factor=round(step.sensor_s / step.wall_s, 2) if step.wall_s else None,
                degenerate=step.degenerate,
                imu_ok=step.imu_ok,
            )
        if pose is not None:
            T = pose.T_world_lidar
            out["pose"] = {
                "t_s": pose.t_ns * 1e-9,
                "position_m": [round(float(x), 4) for x in T[:3, 3]],
                "quaternion_xyzw": [
                    round(float(x), 6) for x in Rotation.from_matrix(T[:3, :3]).as_quat()
                ],
            }
            out["lag_s"] = round(time.monotonic_ns() * 1e-9 - pose.t_ns * 1e-9, 3)
        return out

    # --- internals ----------------------------------------------------------------------------
    def _exists(self, scan_id: str) -> bool:
        try:
            self._path(scan_id)
            return True
        except ScanNotFoundError:
            return False

    def _path(self, scan_id: str) -> Path:
        if not scan_id or "/" in scan_id or ".." in scan_id or scan_id.startswith("."):
            raise ScanNotFoundError(scan_id)
        path = self.store.root / scan_id
        if not (path / "session.json").is_file():
            try:
                return self.store.get(scan_id)
            except KeyError:
                raise ScanNotFoundError(scan_id) from None
        return path

    def _describe(self, path: Path, m: SessionManifest) -> dict:
        job = self._jobs.get(m.id)
        scan = self._scan
        duration = m.duration_s
        if scan is not None and scan.id == m.id:
            duration = time.monotonic() - scan.started_monotonic
        products = product_names(path / PRODUCTS)
        return {
            "id": m.id,
            "state": m.state.value,
            "created_utc": m.created_utc,
            "duration_s": round(duration, 2),
            "progress": job.fraction if job is not None and not job.finished.is_set() else None,
            "stage": job.stage if job is not None and not job.finished.is_set() else None,
            # the splat trains after the map is done, while the scanner can scan again
            "splat_progress": job.splat_fraction
            if job is not None and job.training_splat
            else None,
            "products": products,
            "error": getattr(m, "error", None),
            "stats": m.stats,
        }

    def _calibration(self) -> Calibration:
        T_ext = self.config.imu.T_lidar_imu if self.config.imu.enabled else None
        camera = self.config.camera_calibration if self.config.camera.enabled else None
        return Calibration(
            T_lidar_imu=MID360_T_LIDAR_IMU, T_lidar_external_imu=T_ext, camera=camera
        )

    def _sensor_info(self) -> list[SensorInfo]:
        from device.sessions import rosmsg

        cfg = self.config
        sweep_hz = 1.0 / cfg.lidar.sweep_period_s
        table = [  # (enabled, name, model, topic, rate_hz, frame_id)
            (cfg.lidar.enabled, "lidar", "Livox Mid-360", rosmsg.LIDAR_TOPIC, sweep_hz,
             "livox_frame"),
            (cfg.lidar.enabled, "imu", "Mid-360 built-in", rosmsg.IMU_TOPIC, 200.0, "livox_frame"),
            (cfg.imu.enabled, "external_imu", "Xsens MTi", rosmsg.EXTERNAL_IMU_TOPIC, 400.0,
             "imu_link"),
            (cfg.camera.enabled, "camera", "USB camera", rosmsg.IMAGE_TOPIC, cfg.camera.rate_hz,
             "camera"),
        ]  # fmt: skip
        return [
            SensorInfo(name=n, model=m, topic=t, rate_hz=r, frame_id=f)
            for on, n, m, t, r, f in table
            if on
        ]

    def _ingest_loop(self) -> None:
        """Every frame from the sensors: to the recorder and SLAM while scanning."""
        counts = self.counters.frames
        backlog_ns = int(IMU_BACKLOG_S * 1e9)
        for tagged in self.hub.frames(timeout_s=0.2):
            if self._stop.is_set():
                return
            if tagged is None:
                continue
            frame, sensor = tagged.frame, tagged.sensor
            counts[sensor] = counts.get(sensor, 0) + 1
            for_slam = isinstance(frame, LidarSweep) or (
                isinstance(frame, ImuSample) and sensor == self._slam_imu_sensor
            )
            stop_scan = None
            with self._scan_lock:
                scan = self._scan
                if scan is None:
                    if for_slam and isinstance(frame, ImuSample):
                        q = self._imu_backlog
                        q.append(frame)
                        while q and frame.t_ns - q[0].t_ns > backlog_ns:
                            q.popleft()
                    continue
                try:
                    scan.recorder.write(frame, external_imu=sensor == "external_imu")
                except Exception:  # a frame the recorder cannot take is counted, never fatal
                    log.exception("recording a %s frame failed", sensor)
                if for_slam and not self.slam.feed(frame):
                    self.counters.slam_frames_dropped += 1
                if self.splat is not None and isinstance(frame, CameraFrame):
                    self.splat.image(frame)
                if scan.recorder.disk_low and not scan.stop_requested:
                    scan.stop_requested = True
                    stop_scan = scan
            if stop_scan is not None:
                log.error("scan %s: storage is full: stopping it", stop_scan.id)
                with contextlib.suppress(TransitionError):
                    self.stop_scan(stop_scan.id, reason="storage full")

    def _on_slam(self, msg: Step | Ended) -> None:
        scan = self._scan
        if scan is None or msg.scan_id != scan.id:
            return  # a late result of a scan that has ended
        if isinstance(msg, Ended):
            if msg.error:
                scan.slam_error = msg.error
            return
        if scan.first_pose_monotonic is None:
            scan.first_pose_monotonic = time.monotonic()
        scan.last_step = msg
        self.live.add(LivePose(msg.t_ns, msg.T_world_lidar), msg.new_points)
        if self.splat is not None:
            self.splat.pose(msg.t_ns, msg.T_world_lidar)
            self.splat.points(msg.new_points)

    def _health(self) -> dict[str, SensorHealth]:
        try:
            return {name: sensor_health(st) for name, st in self.hub.status().items()}
        except Exception:  # health is for the record: never a reason to lose the scan
            log.exception("reading sensor health failed")
            return {}

    def _finish_recording(self, scan: ActiveScan, reason: str) -> SessionManifest:
        with self._scan_lock:
            if self._scan is scan:
                self._scan = None
                self.slam.end()
                if self.splat is not None:
                    self.splat.end()
        # each sensor's messages and drops over the scan go into session.json (and the report)
        now, before = self._health(), scan.health_at_start
        sensors = []
        for info in scan.recorder.manifest.sensors:
            h, h0 = now.get(info.name), before.get(info.name)
            if h is not None and h0 is not None:
                info = info.model_copy(
                    update={
                        "connected": h.connected,
                        "messages": h.messages - h0.messages,
                        "drops": h.drops - h0.drops,
                    }
                )
            sensors.append(info)
        scan.recorder.manifest = scan.recorder.manifest.model_copy(update={"sensors": sensors})
        manifest = scan.recorder.close()
        log.info("scan %s %s: %s, %.1f s", scan.id, reason, manifest.state, manifest.duration_s)
        return manifest

    def _stop_and_process(self, scan: ActiveScan, reason: str) -> None:
        try:
            manifest = self._finish_recording(scan, reason)
        except Exception as exc:
            log.exception("closing scan %s failed", scan.id)
            self.sm.move(State.error, error=f"closing the recording failed: {exc}")
            return
        if manifest.state != SessionState.recorded:
            self.counters.scans_failed += 1
            err = scan.recorder.write_error
            self.sm.move(
                State.error,
                error=f"recording stopped by a write error ({err}); what was flushed is safe"
                if err
                else f"the recording could not be closed ({manifest.state})",
            )
            return
        self.sm.move(State.processing)
        self._start_job(scan.id, scan.dir, then_idle=True)

    def _start_job(self, scan_id: str, path: Path, then_idle: bool) -> None:
        job = self._jobs.get(scan_id)
        if job is not None and not job.finished.is_set():
            raise ScanBusyError(f"{scan_id} is already being processed")

        def finished(job: ProcessingJob) -> None:
            if job.error:
                log.error("processing %s failed: %s", scan_id, job.error)
            if then_idle:
                if job.error:
                    self.counters.scans_failed += 1
                    self.sm.move(State.error, error=f"processing {scan_id} failed: {job.error}")
                else:
                    self.sm.move(State.idle)

        self._jobs[scan_id] = ProcessingJob(path, self.config, finished).start()

    def _on_state(self, old: State, new: State) -> None:
        log.info("state %s -> %s", old, new)
        self.led.set_state(new.value)
        self.notify_status()

    def notify_status(self) -> None:
        scan = self._scan
        text = f"{self.sm.state}" + (f" {scan.id}" if scan else "")
        if self.sm.error:
            text += f": {self.sm.error}"
        self.notifier.status(text)

    @property
    def healthy(self) -> bool:
        """For the watchdog: the ingest thread and the SLAM worker are alive."""
        return self._ingest.is_alive() and self.slam.alive
