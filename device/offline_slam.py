"""SLAM on recorded data outside the daemon (`scanner slam`): a session, a bare .mcap or a
folder of scans in; the trajectory (TUM) and the map (PLY) out, each with the config beside it;
and how far the filter moved the lidar-IMU extrinsic when it refined it online. By default
with the global mapping (submaps, loops, the pose graph), as the scanner's products are made;
or the odometry alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from device.config import ScannerConfig, save_snapshot
from device.processing import ProcessingError, SlamInput, open_recording, run_mapping
from slam.pipeline import SlamRun


@dataclass(frozen=True)
class RefinedExtrinsic:
    """The extrinsic the filter ended with, and how far it lies from the calibration's."""

    T_lidar_imu: np.ndarray  # [4, 4]
    rotation_deg: float
    translation_m: float


def open_slam_input(path: Path, config: ScannerConfig, lidar_only: bool = False) -> SlamInput:
    """A session folder, a .mcap or a folder of .pcd/.ply/.npy scans as SLAM input.

    Raises ProcessingError (whatever cannot be read, with the reason)."""
    from drivers.scan_folder import ScanFolderSource, ScanReadError

    if path.suffix == ".mcap" or path.is_file() or (path / "raw.mcap").exists():
        return open_recording(path, config, lidar_only)
    try:
        folder = ScanFolderSource(path, default_period_s=config.slam.scan_period_s)
    except ScanReadError as exc:
        raise ProcessingError(str(exc)) from None
    return SlamInput(folder, None, len(folder))


def check_submaps_folder(folder: Path) -> None:
    """A mapping replaces its folder: refuse one that holds anything but an earlier mapping,
    before any work. Raises ProcessingError."""
    from slam.mapping import foreign_files

    strangers = foreign_files(folder) if folder.exists() else []
    if strangers:
        raise ProcessingError(
            f"{folder} holds other files ({', '.join(strangers[:3])}):"
            " give an empty or new folder for the submaps"
        )


def map_recording(
    inp: SlamInput,
    config: ScannerConfig,
    folder: Path,
    on_step: Callable[[int], None] | None = None,
    with_map: bool = True,
):
    """SLAM with the global mapping, its submaps and graph.json into `folder` -> (SlamRun with
    the optimised trajectory and, `with_map`, the placed submaps as its map; MappingResult).
    The run's time includes the mapping's. Raises ProcessingError, also when `folder` holds
    anything but an earlier mapping (the mapping replaces it)."""
    from slam.pipeline import placed_map

    run, result = run_mapping(inp, config, folder, on_step)
    spacing_m = config.slam.map_point_spacing_m
    return (
        replace(
            run,
            t_s=result.t_s,
            T_world_lidar=result.T_world_lidar,
            map_points=placed_map(folder, result.T_world_anchor, spacing_m) if with_map else None,
            wall_s=run.wall_s + result.meta["mapping_s"],
        ),
        result,
    )


def save_slam_run(
    path: Path, run: SlamRun, config: ScannerConfig, out: Path, map_out: Path | None = None
) -> None:
    """Write the run's trajectory to `out` (TUM) and, if asked, its map to `map_out` (PLY), each
    with a snapshot of the config. Raises ProcessingError when no scan of `path` registered."""
    from drivers.sessions.trajectory import write_tum
    from slam.map_io import write_ply

    if len(run.t_s) == 0:
        raise ProcessingError(f"{path}: no scan could be registered ({run.n_skipped} skipped)")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_tum(out, run.t_s, run.T_world_lidar)
    save_snapshot(config, out)
    if map_out is not None:
        map_out.parent.mkdir(parents=True, exist_ok=True)
        write_ply(map_out, run.map_points)
        save_snapshot(config, map_out)


def refined_extrinsic(
    config: ScannerConfig, inp: SlamInput, run: SlamRun
) -> RefinedExtrinsic | None:
    """The lidar-IMU extrinsic the filter refined online, against the calibration's; None when
    it was not refined (the config does not ask, or the run was lidar-only)."""
    from slam.se3 import pose_change

    if not config.slam.lio_refine_extrinsic or run.T_lidar_imu is None or inp.T_lidar_imu is None:
        return None
    angle_rad, distance_m = pose_change(inp.T_lidar_imu, run.T_lidar_imu)
    return RefinedExtrinsic(run.T_lidar_imu, float(np.degrees(angle_rad)), distance_m)
