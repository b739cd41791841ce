"""Post-processing: a closed session in, its products out (products are functions of a session).

`process_session` places the SLAM's submaps (submaps/, from the live SLAM or from SLAM run
again over raw.mcap) at the pose graph's anchors and writes products/trajectory.tum,
products/map.ply and products/report.html, and marks the session `done` (or `failed`, with the
reason). It can always be run again. The daemon runs it in a process of its own
(`ProcessingJob`) and shows its progress.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.config import ScannerConfig
from device.workers import BackgroundJob, Exited, Worker
from drivers.sessions import rosmsg
from drivers.sessions.manifest import (
    GEOREF,
    PRODUCTS,
    SUBMAPS,
    SessionManifest,
    SessionState,
    read_manifest,
    write_manifest,
)
from drivers.source import Sensor, Source

log = logging.getLogger(__name__)

OnProgress = Callable[[str, float], None]  # (stage, fraction 0..1)


class ProcessingError(RuntimeError):
    """The session cannot be processed; the message says why."""


@dataclass(frozen=True)
class SlamInput:
    """A source and what SLAM needs to know about it."""

    source: Source
    T_lidar_imu: np.ndarray | None  # [4, 4] the fused IMU in the lidar frame; None = lidar-only
    n_sweeps: int
    imu: Sensor = Sensor.imu  # which IMU the filter fuses

    @property
    def mode(self) -> str:
        return "LiDAR-inertial" if self.T_lidar_imu is not None else "lidar-only"


def product_names(products_dir: Path, subfolders: tuple[str, ...] = (GEOREF,)) -> list[str]:
    """The files to download in a products folder, and those in its subfolders as "SUB/NAME"
    (a session's georef/; a site's trajectories/); not the splat's hidden checkpoint nor a
    file still being written (*.tmp)."""

    def files(folder: Path) -> list[str]:
        if not folder.is_dir():
            return []
        return [
            p.name
            for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".tmp")
        ]

    inner = [f"{sub}/{n}" for sub in subfolders for n in sorted(files(products_dir / sub))]
    return sorted(files(products_dir)) + inner


def needs_processing(session_dir: Path, manifest: SessionManifest | None = None) -> bool:
    """Whether the session has no map products yet: not processed, or its map.ply is gone."""
    manifest = manifest if manifest is not None else read_manifest(session_dir)
    return manifest.state != SessionState.done or not (session_dir / PRODUCTS / "map.ply").is_file()


def open_recording(path: Path, config: ScannerConfig, lidar_only: bool = False) -> SlamInput:
    """A session folder or a bare .mcap as SLAM input; picks the IMU the config asks for."""
    from drivers.sessions.recording import count_messages
    from drivers.sessions.replay import SessionSource, session_calibration

    imu = config.slam.imu_sensor
    imu_topic = rosmsg.TOPICS[imu]
    sensors = (Sensor.lidar,) if lidar_only else (Sensor.lidar, imu)
    try:
        source = SessionSource(path, sensors=sensors)
        n_sweeps = count_messages(source.path, rosmsg.LIDAR_TOPIC)
        has_imu = not lidar_only and count_messages(source.path, imu_topic) != 0
    except Exception as exc:  # a missing, truncated or foreign file
        raise ProcessingError(
            f"{path}: cannot read the recording ({type(exc).__name__}: {exc})"
        ) from None
    if n_sweeps == 0:
        raise ProcessingError(f"{path}: the recording holds no lidar sweeps")
    T_lidar_imu = None
    if has_imu:
        T_lidar_imu = session_calibration(path).T_lidar(imu)
        if T_lidar_imu is None:
            raise ProcessingError(f"{path}: no calibration for the external IMU in session.json")
    elif not lidar_only:
        log.warning("%s: no %s messages: running lidar-only", path, imu_topic)
    return SlamInput(source, T_lidar_imu, n_sweeps, imu)


def run_slam(
    inp: SlamInput,
    config: ScannerConfig,
    on_step: Callable[[int], None] | None = None,
):
    """The odometry alone over the whole recording, with its 0.1 m map (-> SlamRun)."""
    from slam.engine import SlamEngine
    from slam.pipeline import run_engine

    engine = SlamEngine(config.slam, inp.T_lidar_imu, imu=inp.imu)
    try:
        return run_engine(engine, inp.source.frames(), config.slam.map_point_spacing_m, on_step)
    except Exception as exc:  # a recording that breaks off part way
        raise ProcessingError(f"reading failed part way ({type(exc).__name__}: {exc})") from None


def run_mapping(
    inp: SlamInput,
    config: ScannerConfig,
    folder: Path,
    on_step: Callable[[int], None] | None = None,
):
    """SLAM over the whole recording with the global mapping: submaps, loops and the pose graph
    into `folder` -> (slam.pipeline.SlamRun, slam.mapping.MappingResult with the engine's
    figures in its meta)."""
    from slam import pipeline

    try:
        return pipeline.run_mapping(
            inp.source.frames(),
            config.slam,
            config.mapping,
            folder,
            config.products.submap_content(),
            inp.T_lidar_imu,
            inp.imu,
            on_step=on_step,
        )
    except Exception as exc:  # a recording that breaks off part way
        raise ProcessingError(f"reading failed part way ({type(exc).__name__}: {exc})") from None


def live_mapping(folder: Path, n_sweeps: int, wait_s: float = 0.0):
    """The live SLAM's mapping of this recording, when it finished and saw every sweep
    (-> MappingResult), waiting up to `wait_s` for it to finish; None otherwise."""
    from slam.mapping import read_graph

    deadline = time.monotonic() + wait_s
    while True:
        result = read_graph(folder)
        if result is not None:
            seen = result.meta.get("sweeps_in")
            if seen == n_sweeps:
                return result
            log.warning("%s: the live SLAM saw %s of %d sweeps", folder, seen, n_sweeps)
            return None
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.2)


def process_session(
    session_dir: Path,
    config: ScannerConfig,
    progress: OnProgress | None = None,
    live_wait_s: float = 0.0,
) -> dict:
    """Make the session's products; returns the SLAM and map figures saved in its stats.

    The map is the submaps placed at the pose graph's anchors. They are the live SLAM's when it
    finished and saw every sweep (waiting up to `live_wait_s` for it), so the products are ready
    seconds after the stop; otherwise (a recovered session, frames the live SLAM missed,
    `mapping.rerun_slam`) SLAM runs again over the whole recording."""
    from drivers.sessions.marks import MARKS_CSV, mark_positions, read_marks, write_marks_csv
    from drivers.sessions.trajectory import write_tum
    from products.export import FORMATS, map_file, write_map
    from products.map import map_from_submaps
    from products.report import report_html

    session_dir = Path(session_dir)
    report = progress or (lambda stage, fraction: None)
    manifest = read_manifest(session_dir)

    write_manifest(session_dir, manifest.model_copy(update={"state": SessionState.processing}))
    t0 = time.perf_counter()
    try:
        inp = open_recording(session_dir, config)
        folder = session_dir / SUBMAPS
        result = None
        if not config.mapping.rerun_slam:
            report("waiting for the live SLAM", 0.0)
            result = live_mapping(folder, inp.n_sweeps, live_wait_s)
        slam_source = "live"
        if result is None:
            slam_source = "rerun"
            report("slam", 0.0)
            total = max(inp.n_sweeps, 1)
            _, result = run_mapping(
                inp, config, folder, lambda n: report("slam", min(n / total, 1.0) * 0.7)
            )
        if len(result.t_s) == 0:
            raise ProcessingError(
                f"nothing could be mapped: {inp.n_sweeps} sweeps"
                f" ({result.meta.get('skipped', 0)} skipped);"
                " the filter needs a second of data to start"
            )
        out = session_dir / PRODUCTS
        out.mkdir(exist_ok=True)
        # products are published as they are made, the quickest first: the trajectory, then
        # map.ply and the report, then the other formats (interfaces.md: "as they are made")
        write_tum(out / "trajectory.tum", result.t_s, result.T_world_lidar)
        marks = read_marks(session_dir)
        mark_xyz = mark_positions(marks, result.t_s, result.T_world_lidar)  # [M, 3]
        if marks:
            write_marks_csv(out / MARKS_CSV, marks, mark_xyz)
        _publish(session_dir)
        report("map", 0.7)
        pc = config.products
        work = out / ".map"  # the map's tiles and columns, out of core; gone once written
        cloud = map_from_submaps(
            folder, result.T_world_anchor, pc, work, lambda f: report("map", 0.7 + 0.05 * f)
        )
        cam = manifest.calibration.camera
        if cam is not None and pc.colour:
            from drivers.sessions.replay import SessionSource
            from products.colour import colourise

            report("colour", 0.75)
            images = SessionSource(session_dir, sensors=(Sensor.camera,)).frames()
            cloud = colourise(
                cloud, (t.frame for t in images), cam, result.t_s, result.T_world_lidar
            )
        slam_stats = _slam_stats(result, inp, time.perf_counter() - t0)
        slam_stats["slam_source"] = slam_source
        slam_stats["marks"] = len(marks)
        slam_stats["final_map_points"] = len(cloud)
        slam_stats["final_map_voxel_m"] = pc.map_voxel_m
        if cloud.coloured is not None:
            slam_stats["coloured_fraction"] = round(float(cloud.coloured.mean()), 4)
        formats = ["ply", *(f for f in pc.formats if f != "ply")]
        for fmt in set(FORMATS) - set(formats):  # an earlier map's (another config, a paged map)
            (out / map_file(fmt)).unlink(missing_ok=True)
        for i, fmt in enumerate(formats):
            name = map_file(fmt)
            report(f"writing {name}", 0.77 + 0.2 * i / len(formats))
            tmp = out / f"{name}.tmp"  # not a product until whole
            write_map(
                tmp, cloud, fmt, gps_offset_s=manifest.utc_offset_s, epsg=pc.epsg,
                voxel_m=pc.map_voxel_m,
            )  # fmt: skip
            tmp.replace(out / name)
            if fmt == "ply":  # the map is downloadable: the report comes with it
                anchors = result.T_world_anchor[:, :3, 3]
                loops = [(anchors[lc.i], anchors[lc.j], lc.correction_m) for lc in result.loops]
                path = result.T_world_lidar[:, :3, 3]
                slam_stats["map_ready_s"] = round(time.perf_counter() - t0, 2)
                (out / "report.html").write_text(
                    report_html(
                        manifest,
                        path,
                        slam_stats,
                        cloud,
                        loops,
                        [
                            (m.name, m.t_s - result.t_s[0], p)
                            for m, p in zip(marks, mark_xyz, strict=True)
                        ],
                    )
                )
            _publish(session_dir)
        shutil.rmtree(work, ignore_errors=True)
        slam_stats["processing_s"] = round(time.perf_counter() - t0, 2)  # every format written
        products = product_names(out)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, ProcessingError) else f"{type(exc).__name__}: {exc}"
        log.error("%s: processing failed: %s", session_dir, reason)
        shutil.rmtree(session_dir / PRODUCTS / ".map", ignore_errors=True)  # GBs on a full disk
        for tmp in (session_dir / PRODUCTS).glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        write_manifest(
            session_dir,
            read_manifest(session_dir).model_copy(
                update={"state": SessionState.failed, "error": reason}
            ),
        )
        raise ProcessingError(reason) from None
    done = read_manifest(session_dir).model_copy(
        update={
            "state": SessionState.done,
            "stats": {**manifest.stats, "slam": slam_stats},
            "products": products,
        }
    )
    write_manifest(session_dir, done)
    report("done", 1.0)
    return slam_stats


def _paged_map_run(session_dir: str, config_json: str) -> dict:
    from products.export import export_product, map_file

    path, pc = Path(session_dir), ScannerConfig.model_validate_json(config_json).products
    out = path / PRODUCTS / map_file("copc")
    tmp = out.with_name(f"{out.name}.tmp")  # not a product until whole
    try:
        what = export_product(
            path / PRODUCTS, "copc", tmp, gps_offset_s=read_manifest(path).utc_offset_s,
            epsg=pc.epsg, voxel_m=pc.map_voxel_m,
        )  # fmt: skip
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    _publish(path)
    return {"written": what}


def paged_map_in_background(session_dir: Path, config: ScannerConfig) -> BackgroundJob:
    """A processed scan's map.copc.laz, the map the browser pages, made from its map.ply in a
    worker process of its own (when the formats at the stop did not include copc)."""
    args = (str(session_dir), config.model_dump_json())
    return BackgroundJob("paged map", _paged_map_run, args, expected=(FileNotFoundError,))


def _publish(session_dir: Path) -> None:
    """The products made so far into session.json, for the API's list while processing goes
    on."""
    m = read_manifest(session_dir)
    write_manifest(
        session_dir, m.model_copy(update={"products": product_names(session_dir / PRODUCTS)})
    )


def splat_session(
    session_dir: Path, config: ScannerConfig, progress: OnProgress | None = None
) -> dict:
    """The splat products (splat.ply, scene.splat) of a processed session, added to its
    products and stats. It runs after the map, on its own: the scanner is ready for the next
    scan meanwhile. A failure is logged and noted in the stats, never fatal."""
    from splat.config import train_config
    from splat.train import train_session

    session_dir = Path(session_dir)
    report = progress or (lambda stage, fraction: None)
    sc = config.splat
    device = sc.torch_device()
    cfg = train_config(sc)
    report("splat", 0.0)
    try:
        figures = train_session(
            session_dir,
            session_dir / PRODUCTS,
            cfg,
            device,
            progress=lambda i, loss: report("splat", i / sc.iterations),
        )
        stats = {k: figures[k] for k in ("iterations", "train_s", "before", "after", "device")}
    except Exception as exc:  # noqa: BLE001 - any failure leaves the map products as they are
        log.error("%s: splat training failed: %s: %s", session_dir, type(exc).__name__, exc)
        stats = {"error": f"{type(exc).__name__}: {exc}"}
    m = read_manifest(session_dir)
    products = product_names(session_dir / PRODUCTS)
    write_manifest(
        session_dir,
        m.model_copy(update={"products": products, "stats": {**m.stats, "splat": stats}}),
    )
    report("splat done", 1.0)
    return stats


def _slam_stats(result, inp: SlamInput, wall_s: float) -> dict:
    """The figures saved in session.json: the odometry's (result.meta) and the mapping's."""
    steps = np.diff(result.T_world_lidar[:, :3, 3], axis=0)
    m = result.meta
    corrections = [lc.correction_m for lc in result.loops]
    return {
        "mode": inp.mode,
        "poses": len(result.t_s),
        "sweeps": inp.n_sweeps,
        "skipped": m.get("skipped", 0),
        "degenerate_sweeps": m.get("degenerate_sweeps", 0),
        "distance_m": round(float(np.linalg.norm(steps, axis=1).sum()), 3),
        "duration_s": round(float(result.t_s[-1] - result.t_s[0]), 3) if len(result.t_s) else 0.0,
        "points_per_s": m.get("points_per_s", 0),
        "p99_latency_ms": m.get("p99_latency_ms"),
        "processing_s": round(wall_s, 2),
        "T_lidar_imu": m.get("T_lidar_imu"),
        "submaps": result.n_submaps,
        "loops": len(result.loops),
        "loop_candidates_refused": result.rejected,
        "largest_correction_m": round(max(corrections), 3) if corrections else 0.0,
        "mapping_s": m.get("mapping_s"),
    }


@dataclass(frozen=True)
class Progress:
    stage: str
    fraction: float  # 0..1


@dataclass(frozen=True)
class MapDone:
    splat_follows: bool  # the same process goes on to train the splat


@dataclass(frozen=True)
class SplatDone:
    pass


@dataclass(frozen=True)
class Failed:
    reason: str


def _job_main(
    inbox: mp.Queue, outbox: mp.Queue, session_dir: str, config_json: str, live_wait_s: float
) -> None:
    config = ScannerConfig.model_validate_json(config_json)
    last = [0.0]

    def progress(stage: str, fraction: float) -> None:
        now = time.monotonic()
        if fraction >= 1.0 or now - last[0] > 0.2:
            last[0] = now
            outbox.put(Progress(stage, fraction))

    try:
        process_session(Path(session_dir), config, progress, live_wait_s)
    except Exception as exc:
        outbox.put(Failed(str(exc)))
        return
    splat = config.splat.enabled and read_manifest(Path(session_dir)).calibration.camera is not None
    outbox.put(MapDone(splat))
    if splat:  # the daemon is ready for the next scan while it trains
        splat_session(Path(session_dir), config, progress)
        outbox.put(SplatDone())


class ProcessingJob:
    """process_session in a worker process of its own; `stage`, `fraction` and `error` follow
    it. With [splat] enabled the same process then trains the splat (splat_session):
    `finished` is set when the map is done, `splat_finished` when the splat is."""

    def __init__(
        self,
        session_dir: Path,
        config: ScannerConfig,
        on_finish: Callable[[ProcessingJob], None],
        live_wait_s: float = 0.0,  # the live SLAM is finishing this scan's submaps
    ):
        self.session_dir = Path(session_dir)
        self.stage = "queued"
        self.fraction = 0.0
        self.error: str | None = None
        self.finished = threading.Event()  # the map products: the scanner can scan again
        self.splat_finished = threading.Event()  # and the splat after them, if configured
        self.splat_fraction = 0.0
        self._on_finish = on_finish
        self.worker = Worker(
            "processing",
            _job_main,
            (str(session_dir), config.model_dump_json(), live_wait_s),
            nice=10,  # products can wait; a new scan's drivers, recorder and SLAM cannot
            on_message=self._on_message,
        )

    def start(self) -> ProcessingJob:
        self.worker.start()
        return self

    def kill(self) -> None:
        """Cut it off (the daemon is stopping): the session stays `processing`, and the next
        start of the daemon processes it again."""
        if not self.finished.is_set():
            self.error = "cut off by the daemon's stop: processed again at its next start"
        self.worker.kill()

    def _on_message(self, msg: object) -> None:
        if isinstance(msg, Progress):
            if self.finished.is_set():  # the map is done: this is the splat
                self.splat_fraction = msg.fraction
            else:
                self.stage, self.fraction = msg.stage, msg.fraction
        elif isinstance(msg, MapDone):
            self.stage, self.fraction = "done", 1.0
            if not msg.splat_follows:
                self.splat_finished.set()
            self._finish()  # the scanner is ready for the next scan
        elif isinstance(msg, SplatDone):
            self.splat_finished.set()
        elif isinstance(msg, Failed):
            self.error = msg.reason
            self._finish()
        elif isinstance(msg, Exited):
            if not self.finished.is_set():
                self.error = self.error or f"the processing exited ({msg.exitcode})"
            self.splat_finished.set()
            self._finish()

    def _finish(self) -> None:
        if self.finished.is_set():
            return
        self.finished.set()
        try:
            self._on_finish(self)
        except Exception:
            log.exception("after processing %s", self.session_dir)

    @property
    def training_splat(self) -> bool:
        """The map is done and the splat is still training (the same process goes on)."""
        return self.finished.is_set() and not self.splat_finished.is_set()
