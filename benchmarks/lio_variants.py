"""LIO configurations side by side on one session: the same frames (read once, held in memory),
each variant run in turn in this process, so the machine's drift touches them alike.

Per variant: ATE, the relative error over stretches walked (slam.metrics.relative_error:
horizontal / vertical), points/s of the filter itself, and the lidar-IMU extrinsic it ended
with against the unit's true one where the twin wrote it (twin_truth.json).

    python -m benchmarks.lio_variants SESSION '{}' '{"lio_refine_extrinsic": false}' [--out DIR]

Each variant is a JSON object of OdometryConfig fields over the defaults; --out keeps each
trajectory as DIR/<session>.<k>.tum.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.site import _frames, _warm_up
from drivers.sessions.trajectory import read_tum, write_tum
from slam.config import OdometryConfig
from slam.metrics import ate_rmse, relative_error
from slam.pipeline import run_lio
from slam.se3 import pose_change

STRETCHES_M = (10.0, 100.0)


@dataclass(frozen=True)
class VariantRow:
    overrides: dict
    ate_m: float
    relative_hv_m: dict[float, tuple[float, float]]  # stretch -> (horizontal, vertical) RMS
    points_per_s: float
    extrinsic_off_truth: tuple[float, float] | None  # (deg, m) at the end, where the truth is known


def run_variants(session: Path, variants: list[dict], out: Path | None = None) -> list[VariantRow]:
    frames = list(_frames(session))
    t_gt, T_gt = read_tum(session / "ground_truth.tum")
    T_nominal = _warm_up(session, OdometryConfig())
    truth = session / "twin_truth.json"
    T_true = None  # the unit's true extrinsic: the twin's, not in the session
    if truth.exists():
        T_true = np.array(json.loads(truth.read_text())["unit"]["T_lidar_imu"])
    rows = []
    for k, overrides in enumerate(variants):
        run = run_lio(iter(frames), OdometryConfig(**overrides), T_nominal, map_voxel_m=None)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            write_tum(out / f"{session.name}.{k}.tum", run.t_s, run.T_world_lidar)
        rel = {}
        for d in STRETCHES_M:
            r = relative_error(run.t_s, run.T_world_lidar, t_gt, T_gt, d)
            rel[d] = (r.horizontal_m, r.vertical_m)
        off = None
        if T_true is not None and run.T_lidar_imu is not None:
            angle_rad, distance_m = pose_change(T_true, run.T_lidar_imu)
            off = (float(np.degrees(angle_rad)), float(distance_m))
        rows.append(
            VariantRow(
                overrides,
                ate_rmse(run.t_s, run.T_world_lidar, t_gt, T_gt).rmse_m,
                rel,
                run.points_per_s,
                off,
            )
        )
    return rows


def format_rows(session: Path, rows: list[VariantRow]) -> str:
    head = " | ".join(f"{d:g} m h / v [mm]" for d in STRETCHES_M)
    lines = [
        f"{session.name}",
        "",
        f"| variant | ATE [m] | {head} | points/s | extrinsic off truth |",
        "|---|---|" + "---|" * len(STRETCHES_M) + "---|---|",
    ]
    for r in rows:
        rel = " | ".join(
            "-" if np.isnan(h) else f"{1e3 * h:.0f} / {1e3 * v:.0f}"
            for h, v in (r.relative_hv_m[d] for d in STRETCHES_M)
        )
        off = "-"
        if r.extrinsic_off_truth is not None:
            deg, m = r.extrinsic_off_truth
            off = f"{deg:.2f} deg, {1e3 * m:.1f} mm"
        lines.append(
            f"| `{json.dumps(r.overrides)}` | {r.ate_m:.4f} | {rel} | "
            f"{r.points_per_s / 1e6:.2f}M | {off} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("session", type=Path)
    p.add_argument("variants", nargs="+", type=json.loads, help="OdometryConfig fields, JSON")
    p.add_argument("--out", type=Path, help="keep the trajectories here")
    a = p.parse_args()
    print(format_rows(a.session, run_variants(a.session, a.variants, a.out)))
