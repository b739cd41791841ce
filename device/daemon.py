"""The scanner daemon: one object that owns the sensors, the scan, live SLAM and processing.

    sensors (driver threads) ──► ingest thread ──► recorder (raw.mcap, fsync every second)
                                              └──► SLAM worker (process) ──► live buffer, status
    stop ──► close the recording ──► processing job (process) ──► products ──► idle

Every public method is thread-safe and quick, so the API (asyncio), the button thread and
tests can call them directly. The sensors run from `start()` to `close()`, so their health
shows while idle and a scan starts from warm drivers; the last second of IMU is kept so the
filter initialises on the first sweep.

It is one object's commands and queries, a little over 400 lines; what they lean on lives beside
it: the scan in progress (scan.py), the processing jobs (jobs.py), the reports (status.py), the
new session and the IMU live SLAM fuses (recording.py), the workers (workers.py).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from device.button import Button, Press
from device.config import ScannerConfig
from device.georef import GeorefSettings, georef_in_background
from device.jobs import Jobs, ScanBusyError
from device.led import StatusLed
from device.live import LiveBuffer, LivePose
from device.notify import SystemdNotifier
from device.processing import (
    ProcessingJob,
    needs_processing,
    paged_map_in_background,
    product_names,
)
from device.recording import new_session_recorder, slam_imu
from device.scan import ActiveScan
from device.slam_worker import Ended, MappingSettings, SlamWorker, Step
from device.splat_worker import SplatWorker
from device.state import State, StateMachine, TransitionError
from device.status import ProcessingReport, ScanReport, StatusReport, StorageReport
from device.storage import SessionStore, StorageFullError
from device.workers import BackgroundJob
from drivers.hub import SensorHub
from drivers.sessions.manifest import (
    PRODUCTS,
    SUBMAPS,
    SessionManifest,
    SessionState,
    read_manifest,
    write_manifest,
)
from drivers.sessions.marks import (
    CONTROL_CSV,
    MARKS_CSV,
    Mark,
    MarkError,
    MarkNameTakenError,
    append_mark,
    check_name,
    read_marks,
    read_marks_csv,
)
from drivers.sessions.recovery import recover_all
from drivers.source import Sensor, SensorHealth, Source, Tagged
from products.copc import CopcError, CopcPages, open_pages
from products.export import map_file
from products.georef import parse_control_csv

log = logging.getLogger(__name__)

IMU_BACKLOG_S = 1.5  # IMU kept while idle, so the filter can initialise at once


MAP_COPC = map_file("copc")  # the map the browser pages


class MapUnreadableError(ValueError):
    """A COPC map that cannot be read: make it again."""


class NotFoundError(KeyError):
    """No such scan, site, product or map node (the API's 404), said in words."""

    def __init__(self, what: str, name: str) -> None:
        super().__init__(f"no such {what}: {name}")

    def __str__(self) -> str:  # KeyError's would quote the message
        return str(self.args[0])


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
        self, config: ScannerConfig, *, hub: Source | None = None, button: Button | None = None
    ) -> None:
        self.config = config
        self.store = SessionStore(config.data_dir, reserve_bytes=config.storage_reserve_mb * 10**6)
        self.sm = StateMachine()
        self.live = LiveBuffer()
        self.counters = Counters()
        self.hub = hub or SensorHub(config.lidar, config.imu, config.camera)
        self.slam = SlamWorker(
            config.slam,
            self._on_slam,
            mapping=MappingSettings(config.mapping, config.products.submap_content()),
        )
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
        self.jobs = Jobs(config, self._on_processed)
        self._awaited: str | None = None  # the scan just stopped, whose products free the scanner
        self._scan: ActiveScan | None = None
        self._scan_lock = threading.Lock()  # held while a frame is routed, and to swap _scan
        self._imu_backlog: deque[Tagged] = deque()
        self._stop = threading.Event()
        self._ingest = threading.Thread(target=self._ingest_loop, name="ingest", daemon=True)
        self.started_monotonic = time.monotonic()
        self._slam_imu, self._T_lidar_imu = slam_imu(config)  # which IMU live SLAM fuses
        self._newest: tuple[int, int] | None = None  # (a frame's t_ns, monotonic_ns at arrival)
        self._georefs: dict[str, BackgroundJob] = {}
        self._paged: dict[str, BackgroundJob] = {}  # the paged maps being made
        self._sites: dict[
            str, tuple[BackgroundJob, list[str]]
        ] = {}  # by name: job, its scans  # by scan id, the latest of each

    # --- life cycle ---------------------------------------------------------------------------
    def start(self, slam_ready_timeout_s: float = 120.0) -> Daemon:
        for path, result in recover_all(self.store.root):
            log.warning("%s: recovered after an unclean stop (%s)", path, result)
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
        self._process_unfinished()
        self.notifier.ready()
        self.notify_status()
        return self

    def close(self) -> None:
        """Stop a scan in progress (closing its recording), then every thread and process.
        Processing in progress is cut off and done again at the next start."""
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
        self.hub.close()
        self._ingest.join(timeout=3.0)
        self.jobs.close()
        for job in [
            *self._georefs.values(),
            *self._paged.values(),
            *(job for job, _ in self._sites.values()),
        ]:
            job.kill()
        self.slam.stop()
        if self.splat is not None:
            self.splat.stop()
        self.led.stop()

    def _process_unfinished(self) -> None:
        """Sessions whose processing never finished (cut off by a power loss, a crash or the
        daemon's stop) and closed ones never processed: processed again, one at a time."""
        for path, m in self.store.sessions():
            if m.state == SessionState.processing:
                m = m.model_copy(update={"state": SessionState.recorded})
                write_manifest(path, m)
            if m.state == SessionState.recorded:
                log.warning("%s: its processing never finished: processing it again", path.name)
                self.jobs.queue(path.name, path)

    # --- commands -----------------------------------------------------------------------------
    def start_scan(self) -> SessionManifest:
        """Open a session, record, run live SLAM. TransitionError unless idle; StorageFullError."""
        self.sm.move(State.starting, expect=State.idle)
        try:
            self.store.check_can_record()
            recorder = new_session_recorder(self.config, self.store.new_session_dir())
        except StorageFullError:
            self.sm.move(State.idle)
            raise
        except Exception as exc:
            self.sm.move(State.error, error=f"cannot start a scan: {exc}")
            self.counters.scans_failed += 1
            raise
        scan = ActiveScan(recorder, self._health())
        self.live.reset()
        with self._scan_lock:
            backlog = list(self._imu_backlog)
            for tagged in backlog:  # what the live filter starts on, the recording has too: SLAM
                recorder.write(tagged)  # run again over it (processing) starts alike
            self.slam.begin(
                scan.id,
                self._T_lidar_imu,
                self._slam_imu,
                backlog,
                scan.dir / SUBMAPS,
            )
            if self.splat is not None:
                self.splat.begin(scan.dir / PRODUCTS, self.config.camera_calibration)
            self._scan = scan
        self.counters.scans_started += 1
        self.sm.move(State.scanning)
        log.info("scan %s started", scan.id)
        return recorder.manifest

    def stop_scan(self, scan_id: str | None = None, reason: str = "stopped") -> str:
        """Close the recording and process it, in the background. -> the scan's id."""
        with self._scan_lock:
            scan = self._recording(scan_id, State.stopping)
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
            if kind == Press.double:
                if state != State.scanning:
                    return f"ignored: a double press marks a point while scanning ({state})"
                return f"marked {self.mark(source='button').name}"
            if state == State.idle:
                return f"started {self.start_scan().id}"
            if state == State.scanning:
                return f"stopping {self.stop_scan()}"
            if state == State.error:
                self.sm.move(State.idle, expect=State.error)
                return "error acknowledged"
        except (TransitionError, StorageFullError, MarkError, OSError) as exc:
            return f"ignored: {exc}"
        return f"ignored: busy ({state})"

    def mark(
        self, scan_id: str | None = None, name: str | None = None, source: str = "api"
    ) -> Mark:
        """Mark where the reference point is now (a control point): on disk before it returns.
        NotFoundError; TransitionError unless that scan records; MarkError for a bad or
        repeated name."""
        with self._scan_lock:
            scan = self._recording(scan_id, State.scanning)
            if self._newest is None:
                raise MarkError("no sensor data yet: the time of the mark is not known")
            t_frame_ns, arrived_ns = self._newest
            taken = {m.name for m in scan.marks}
            if name is None:
                name = next(
                    f"M{i:02d}" for i in range(1, len(taken) + 2) if f"M{i:02d}" not in taken
                )
            name = check_name(name)
            if name in taken:
                raise MarkNameTakenError(f"{scan.id} already has a mark {name!r}")
            mark = Mark(
                name=name,
                t_ns=t_frame_ns + time.monotonic_ns() - arrived_ns,  # the sensors' clock, now
                reference_point_lidar_m=tuple(self.config.reference_point_lidar_m),
                source=source,
            )
            append_mark(scan.dir, mark)
            scan.marks.append(mark)
        log.info("scan %s: mark %s (%s)", scan.id, mark.name, source)
        return mark

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
        self._check_not_recording(scan_id)
        if reason := self.jobs.busy(scan_id) or self._in_background(scan_id):
            raise ScanBusyError(reason)
        self.jobs.forget(scan_id)
        shutil.rmtree(path)

    def process_scan(self, scan_id: str) -> None:
        """(Re)make a scan's products in the background, after any other processing: a scan
        whose processing was cut off, a recovered one, or one to make again with a new config.
        NotFoundError; ScanBusyError while it records, is being processed or georeferenced."""
        path = self._path(scan_id)
        self._check_not_recording(scan_id)
        if reason := self._in_background(scan_id):
            raise ScanBusyError(reason)
        self.jobs.queue(scan_id, path)

    def georef(self, scan_id: str, control_csv: str, settings: GeorefSettings) -> BackgroundJob:
        """Tie a processed scan to control points, in the background (device/georef.py): the
        CSV is kept as SESSION/control.csv. NotFoundError; ScanBusyError while it records,
        is processed or georeferenced, or has no products yet; GeorefError for a CSV that
        cannot be read (checked before anything starts)."""
        path = self._processed(scan_id)
        parse_control_csv(control_csv, CONTROL_CSV)  # GeorefError before anything is written
        control = path / CONTROL_CSV
        control.write_text(control_csv)
        job = georef_in_background(path, control, settings, self.config).start()
        self._georefs[scan_id] = job
        log.info("scan %s: georeferencing", scan_id)
        return job

    def georef_job(self, scan_id: str) -> BackgroundJob | None:
        return self._georefs.get(scan_id)

    def _processed(self, scan_id: str) -> Path:
        """A processed scan's folder, for work on its products; NotFoundError;
        ScanBusyError while it records, is processed, georeferenced or joined into a site, or
        has no products yet."""
        path = self._path(scan_id)
        self._check_not_recording(scan_id)
        if reason := self.jobs.busy(scan_id) or self._in_background(scan_id):
            raise ScanBusyError(reason)
        if needs_processing(path):
            raise ScanBusyError(f"{scan_id} has no products yet: process it first")
        return path

    def _in_background(self, scan_id: str) -> str | None:
        """Why a scan is busy in a background job (georeferenced, joined), or None."""
        job = self._georefs.get(scan_id)
        if job is not None and not job.finished.is_set():
            return f"{scan_id} is being georeferenced"
        job = self._paged.get(scan_id)
        if job is not None and not job.finished.is_set():
            return f"{scan_id}'s paged map is being made"
        for name, (job, scans) in self._sites.items():
            if scan_id in scans and not job.finished.is_set():
                return f"{scan_id} is being joined into the site {name}"
        return None

    # --- sites: processed scans joined in one frame (device/site.py) ----------------------------
    def make_site(self, name: str, scan_ids: list[str], formats: tuple[str, ...]) -> BackgroundJob:
        """Join processed scans into DATA/sites/NAME, in the background (scanner site's work).
        SiteError for a bad name or fewer than two scans; NotFoundError; ScanBusyError
        while one records, is processed or not yet, or the site is being made."""
        from device.site import SITES, check_site_name, site_in_background
        from products.site import SiteError

        check_site_name(name)
        if len(set(scan_ids)) < 2 or len(set(scan_ids)) != len(scan_ids):
            raise SiteError("a site joins two or more different scans")
        paths = [self._processed(scan_id) for scan_id in scan_ids]
        running = self._sites.get(name)
        if running is not None and not running[0].finished.is_set():
            raise ScanBusyError(f"the site {name} is being made")
        out = self.store.root / SITES / name
        job = site_in_background(out, paths, formats, self.config).start()
        self._sites[name] = (job, list(scan_ids))
        log.info("site %s: joining %s", name, ", ".join(scan_ids))
        return job

    def sites(self) -> list[str]:
        """Every site's name: those on disk and those being made."""
        from device.site import SITES

        root = self.store.root / SITES
        on_disk = {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()
        return sorted(on_disk | set(self._sites))

    def site(self, name: str) -> tuple[str, str | None, dict | None, list[str]]:
        """(state, error, summary, products) of a site; NotFoundError for none."""
        from device.site import SITES, read_site, site_products

        folder = self.store.root / SITES / name
        entry = self._sites.get(name)
        if entry is not None and not entry[0].finished.is_set():
            return "running", None, None, []
        doc = read_site(folder) if folder.is_dir() else None
        if entry is not None and entry[0].state == "failed":
            return "failed", entry[0].error, None, []
        if doc is None:
            raise NotFoundError("site", name)
        return "done", None, doc, site_products(folder)

    def site_product(self, name: str, file: str) -> Path:
        """A file of a finished site; NotFoundError for anything else (no way out of it)."""
        from device.site import SITES, site_products

        folder = self.store.root / SITES / name
        if file not in site_products(folder) or "/" in name or name.startswith("."):
            raise NotFoundError("product", f"{name}/{file}")
        return folder / file

    def make_paged_map(self, scan_id: str) -> BackgroundJob:
        """Make a processed scan's map.copc.laz (the map the browser pages) from its map.ply,
        in the background; NotFoundError; ScanBusyError while it records, is processed,
        or is busy in another background job, or has no products yet."""
        path = self._processed(scan_id)
        job = paged_map_in_background(path, self.config).start()
        self._paged[scan_id] = job
        log.info("scan %s: making its paged map", scan_id)
        return job

    def paged_map(self, scan_id: str) -> tuple[str, str | None]:
        """(state, error) of a scan's paged map: running, done, failed or none."""
        path = self._path(scan_id)
        job = self._paged.get(scan_id)
        if job is not None and not job.finished.is_set():
            return "running", None
        if (path / PRODUCTS / MAP_COPC).is_file():
            return "done", None
        if job is not None and job.state == "failed":
            return "failed", job.error
        return "none", None

    def map_hierarchy(self, kind: str, name: str) -> dict:
        """The octree of a scan's (`kind` "scans") or a site's ("sites") COPC map, for the
        paged view (products.copc.CopcPages); NotFoundError when there is none,
        MapUnreadableError for a file that cannot be read."""
        return self._pages(kind, name).hierarchy()

    def map_node(self, kind: str, name: str, key: tuple[int, int, int, int]) -> bytes:
        """A node's points (CopcPages.node); NotFoundError for no map or no such node,
        MapUnreadableError for one that cannot be read."""
        pages = self._pages(kind, name)
        try:
            return pages.node(key)
        except KeyError:
            raise NotFoundError("map node", "-".join(map(str, key))) from None
        except CopcError as exc:
            raise MapUnreadableError(str(exc)) from None

    def _pages(self, kind: str, name: str) -> CopcPages:  # opened once while the file stays
        product = {"scans": self.product_path, "sites": self.site_product}[kind]
        path = product(name, MAP_COPC)
        try:
            return open_pages(str(path), path.stat().st_mtime_ns)
        except FileNotFoundError:
            raise NotFoundError("map", name) from None
        except CopcError as exc:
            raise MapUnreadableError(str(exc)) from None

    # --- queries ------------------------------------------------------------------------------
    def current_scan_id(self) -> str | None:
        scan = self._scan
        return scan.id if scan is not None else None

    def scans(self) -> list[ScanReport]:
        return [self._describe(p, m) for p, m in reversed(self.store.sessions())]

    def scan(self, scan_id: str) -> ScanReport:
        path = self._path(scan_id)
        return self._describe(path, read_manifest(path))

    def marks(self, scan_id: str) -> list[tuple[Mark, np.ndarray | None]]:
        """A scan's marks, each with its position in the map ([3]) once processed, else None."""
        path = self._path(scan_id)
        marks = read_marks(path)
        xyz = {}
        if (path / PRODUCTS / MARKS_CSV).exists():
            try:
                xyz = read_marks_csv(path / PRODUCTS / MARKS_CSV)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("%s: %s unreadable: %s", scan_id, MARKS_CSV, exc)
        return [(m, xyz.get(m.name)) for m in marks]

    def live_position(self, mark: Mark) -> np.ndarray | None:  # -> [3] or None
        """The reference point where live SLAM has the lidar now (a mark just taken)."""
        pose = self.live.pose
        if pose is None:
            return None
        T = pose.T_world_lidar
        return T[:3, :3] @ np.asarray(mark.reference_point_lidar_m) + T[:3, 3]

    def product_path(self, scan_id: str, name: str) -> Path:
        """The product file; NotFoundError for any name that is not a file in products/."""
        try:
            return self.store.product(scan_id, name)
        except KeyError:
            raise NotFoundError("product", f"{scan_id}/{name}") from None

    def status(self) -> StatusReport:
        scan = self._scan  # no lock: the ingest thread holds it while it writes each frame
        storage, health = self.store.status(), self._health()
        processing = None
        if (running := self.jobs.running()) is not None:
            sid, job = running
            processing = ProcessingReport(sid, job.stage, job.fraction)
        return StatusReport(
            state=self.sm.state.value,
            since_s=round(time.monotonic() - self.sm.since_monotonic, 3),
            error=self.sm.error,
            scan_id=scan.id if scan else None,
            sensors={s.value: replace(h, rate_hz=round(h.rate_hz, 2)) for s, h in health.items()},
            slam=None if scan is None else scan.slam_report(self.live, self.slam.dropped),
            recording=None if scan is None else scan.recording_report(),
            storage=StorageReport(
                storage.total_bytes, storage.free_bytes, round(storage.minutes_left, 1)
            ),
            processing=processing,
        )

    # --- internals ----------------------------------------------------------------------------
    def _recording(self, scan_id: str | None, wanted: State) -> ActiveScan:
        """The scan in progress (that one, if an id is given): NotFoundError for an unknown
        id, TransitionError (towards `wanted`) when it is not the one recording."""
        scan = self._scan
        if scan is None or (scan_id is not None and scan.id != scan_id):
            if scan_id is not None and not self._exists(scan_id):
                raise NotFoundError("scan", scan_id)
            raise TransitionError(self.sm.state, wanted)
        return scan

    def _exists(self, scan_id: str) -> bool:
        try:
            self._path(scan_id)
            return True
        except NotFoundError:
            return False

    def _path(self, scan_id: str) -> Path:
        try:
            return self.store.get(scan_id)
        except KeyError:
            raise NotFoundError("scan", scan_id) from None

    def _check_not_recording(self, scan_id: str) -> None:
        with self._scan_lock:
            if self._scan is not None and self._scan.id == scan_id:
                raise ScanBusyError(f"{scan_id} is recording: stop it first")

    def _describe(self, path: Path, m: SessionManifest) -> ScanReport:
        """A scan as the API lists it, by its folder's name: a folder copied from another session
        keeps the manifest's id, and only the name tells the two apart."""
        scan_id, scan = path.name, self._scan
        duration = scan.duration_s if scan is not None and scan.id == scan_id else m.duration_s
        products = product_names(path / PRODUCTS)
        return ScanReport.of(scan_id, m, duration, products, self.jobs.get(scan_id))

    def _ingest_loop(self) -> None:
        """Every frame from the sensors: to the recorder and SLAM while scanning."""
        counts = self.counters.frames
        backlog_ns = int(IMU_BACKLOG_S * 1e9)
        for tagged in self.hub.frames():
            if self._stop.is_set():
                return
            sensor = tagged.sensor
            counts[sensor.value] = counts.get(sensor.value, 0) + 1
            for_slam = sensor in (Sensor.lidar, self._slam_imu)
            if for_slam:  # a sweep is handed out once complete: its last point is the newest
                t_ns = tagged.frame.end_ns if sensor == Sensor.lidar else tagged.t_ns
                self._newest = (t_ns, time.monotonic_ns())
            stop_scan = None
            with self._scan_lock:
                scan = self._scan
                if scan is None:
                    if sensor == self._slam_imu:
                        q = self._imu_backlog
                        q.append(tagged)
                        while q and tagged.t_ns - q[0].t_ns > backlog_ns:
                            q.popleft()
                    continue
                try:
                    scan.recorder.write(tagged)
                except Exception:  # a frame the recorder cannot take is counted, never fatal
                    log.exception("recording a %s frame failed", sensor)
                if for_slam and not self.slam.feed(tagged):
                    self.counters.slam_frames_dropped += 1
                if self.splat is not None and sensor == Sensor.camera:
                    self.splat.image(tagged.frame)
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
        scan.on_step(msg)
        self.live.add(LivePose(msg.t_ns, msg.T_world_lidar), msg.new_points)
        if self.splat is not None:
            self.splat.pose(msg.t_ns, msg.T_world_lidar)
            self.splat.points(msg.new_points)

    def _health(self) -> dict[Sensor, SensorHealth]:
        try:
            return self.hub.health()
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
        return scan.close(self._health(), reason)

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
        self._awaited = scan.id
        try:
            # the live SLAM is finishing the submaps the products are made of, unless it failed
            wait_s = self.config.mapping.live_wait_s if scan.slam_error is None else 0.0
            self.jobs.start(scan.id, scan.dir, wait_s)
        except ScanBusyError as exc:  # cannot be: a new scan has a new id
            self.sm.move(State.error, error=str(exc))

    def _on_processed(self, scan_id: str, job: ProcessingJob) -> None:
        """A job's map products are done (or failed): the scan just stopped frees the scanner."""
        if scan_id != self._awaited:
            return  # processed in the background (queued), the scanner was free meanwhile
        self._awaited = None
        if job.error:
            self.counters.scans_failed += 1
            self.sm.move(State.error, error=f"processing {scan_id} failed: {job.error}")
        else:
            self.sm.move(State.idle)

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
