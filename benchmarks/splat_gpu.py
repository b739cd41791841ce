"""The splat on a GPU: gsplat's CUDA path, offline training to the PSNR target, and whether the
online splat keeps up with the scan.

    # here (CPU): pack a processed twin session into one small file that travels to a GPU box
    .venv/bin/python benchmarks/splat_gpu.py prepare SESSION_DIR bundle.pt
    # on the GPU machine
    python benchmarks/splat_gpu.py run bundle.pt --out figures.json [--iters 30000]

`prepare` keeps what training reads from a session (the chosen keyframes' JPEGs and SLAM poses,
the coloured map) and what the online splat is fed live (poses, the live map's new 0.2 m voxels
as the SLAM would first see them, images at the worker's two a second), so a GPU box needs
neither the raw recording nor the SLAM.

`run` measures, writing the figures after each step:
1. gsplat's CUDA kernels: whether they build, and how long that takes (first use);
2. the online splat, replayed at --online-speed times real time through the worker's own loop
   (ten iterations between messages): the backlog of owed iterations, iterations/s, held-out PSNR;
3. each --train run (`splat.train.Trainer`, as `scanner splat train` runs it): one keyframe
   rendered forward and backward (ms), held-out PSNR/SSIM at the initialisation, at 1000, 7000
   and 15000 iterations, and at the end also after test-time pose alignment; iterations/s and
   peak GPU memory. Runs may use the SLAM's camera poses or, on a twin session, the true ones
   (how much of the error is the SLAM's), with or without pose refinement.
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from splat.config import TrainConfig  # noqa: E402
from splat.keyframes import make_keyframes  # noqa: E402
from splat.train import Trainer  # noqa: E402

log = logging.getLogger("splat_gpu")
LIVE_VOXEL_M = 0.2  # the daemon's live map (device/live.py NewVoxelFilter)
SEEN_WITHIN_M = 15.0  # a map point is "new" at the first pose this close to it
IMAGE_PERIOD_NS = 500_000_000  # SplatWorker.image(): two a second


# --- prepare (CPU, beside the session) -------------------------------------------------------
def prepare(session: Path, out: Path, max_keyframes: int) -> None:
    from drivers.sessions.manifest import read_manifest
    from drivers.sessions.replay import SessionSource
    from drivers.sessions.trajectory import read_tum
    from drivers.source import Sensor
    from slam.preprocess import voxel_downsample
    from splat.keyframes import blind_zone, pick_keyframes

    cfg = TrainConfig(max_keyframes=max_keyframes)
    cal, frames, T_wc, map_xyz_rgb = pick_keyframes(session, cfg)
    full_map_xyz = map_xyz_rgb[:, :3]  # where the LiDAR saw, for the blind zone
    if len(map_xyz_rgb) > cfg.max_gaussians:  # the sample the Trainer would take, so it travels
        keep = np.random.default_rng(cfg.seed).choice(len(map_xyz_rgb), cfg.max_gaussians, False)
        map_xyz_rgb = map_xyz_rgb[keep]
    t_s, T_world_lidar = read_tum(session / "products" / "trajectory.tum")
    T_truth = None
    if (session / "ground_truth.tum").exists():  # the twin's: the true camera poses, for scale
        from splat_twin_limits import true_camera_poses

        _, T_truth = true_camera_poses(session, cal, np.array([f.t_s for f in frames]))
    jpegs = [f.jpeg for f in frames]
    blind = {"slam": blind_zone(cal, jpegs, T_wc, full_map_xyz)}
    if T_truth is not None:
        blind["gt"] = blind_zone(cal, jpegs, T_truth, full_map_xyz)
    # the live stream: images at the worker's rate, points released by proximity
    images, last = [], -(10**18)
    for f in (t.frame for t in SessionSource(session, sensors=(Sensor.camera,)).frames()):
        if f.t_ns - last >= IMAGE_PERIOD_NS:
            images.append((f.t_ns, f.jpeg, f.width, f.height))
            last = f.t_ns
    live = map_xyz_rgb[voxel_downsample(map_xyz_rgb[:, :3], LIVE_VOXEL_M), :3].astype(np.float32)
    first_pose = np.full(len(live), -1)
    from scipy.spatial import cKDTree

    tree = cKDTree(live)
    for i, T in enumerate(T_world_lidar):
        idx = np.asarray(tree.query_ball_point(T[:3, 3], SEEN_WITHIN_M), dtype=int)
        idx = idx[first_pose[idx] < 0]
        first_pose[idx] = i
    bundle = {
        "session": session.name,
        "manifest_sim": read_manifest(session).model_dump(mode="json").get("sim"),
        "calibration": cal.model_dump(),
        "keyframes": {
            "jpegs": jpegs,
            "t_s": [f.t_s for f in frames],
            "T_world_camera": T_wc.astype(np.float64),
            "T_world_camera_truth": T_truth,
        },
        "blind_zone_xyz_rgb": blind,  # triangulated with the SLAM's or the true poses
        "map_xyz": map_xyz_rgb[:, :3].astype(np.float32),
        "map_rgb": map_xyz_rgb[:, 3:6].astype(np.uint8),
        "live": {
            "t_ns": np.round(t_s * 1e9).astype(np.int64),
            "T_world_lidar": T_world_lidar,
            "points": live,
            "points_first_pose": first_pose,
            "images": images,
        },
    }
    out.write_bytes(pickle.dumps(bundle, protocol=5))
    log.info(
        "%s: %d keyframes, %d map points, %d live images, %d live points -> %s (%.1f MB)",
        session.name, len(frames), len(map_xyz_rgb), len(images), (first_pose >= 0).sum(),
        out, out.stat().st_size / 1e6,
    )  # fmt: skip


# --- run (GPU) ---------------------------------------------------------------------------------
def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _reset_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _peak_mb() -> int | None:
    return round(torch.cuda.max_memory_allocated() / 2**20) if torch.cuda.is_available() else None


def compile_gsplat() -> dict:
    t0 = time.perf_counter()
    try:
        from gsplat.cuda._backend import _C

        ok = _C is not None
        err = None if ok else "gsplat's CUDA extension did not load"
    except Exception as e:  # noqa: BLE001 - reported, and the torch backend carries on
        ok, err = False, f"{type(e).__name__}: {e}"
    return {"ok": ok, "compile_s": round(time.perf_counter() - t0, 1), "error": err}


def render_timings(trainer: Trainer, backend: str, reps: int = 10) -> dict:
    """One keyframe rendered forward and backward at the initialisation (the torch backend's
    image equality with gsplat's is tests/splat/test_render.py's, on a small scene)."""
    from splat.render import render

    view = trainer.train_views[0]
    h, w = view.image.shape[:2]
    times = []
    for i in range(reps + 2):
        _sync()
        t0 = time.perf_counter()
        dev = trainer.device
        r = render(dict(trainer.params), view.viewmat.to(dev), view.K.to(dev), w, h, 3, backend)
        r.rgb.sum().backward()
        _sync()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    trainer.params.zero_grad(set_to_none=True)
    return {
        "backend": backend,
        "forward_backward_ms": round(1000 * float(np.median(times)), 2),
        "gaussians": len(trainer.params["means"]),
        "size": [w, h],
    }


def run_online(bundle: dict, speed: float, device: str, backend: str) -> dict:
    from device.splat_worker import TRAIN_BETWEEN_MESSAGES, Points, Pose, feed
    from drivers.frames import CameraFrame
    from drivers.sessions.manifest import CameraCalibration
    from drivers.source import Sensor, Tagged
    from splat.online import OnlineConfig, OnlineSplat

    live = bundle["live"]
    cal = CameraCalibration(**bundle["calibration"])
    events: list[tuple[int, int, object]] = []  # (t_ns, order, payload)
    for i, (t, T) in enumerate(zip(live["t_ns"], live["T_world_lidar"], strict=True)):
        events.append((int(t), 0, Pose(int(t), T)))
        pts = live["points"][live["points_first_pose"] == i]
        if len(pts):
            events.append((int(t), 1, Points(pts)))
    for t, jpeg, w, h in live["images"]:
        events.append((int(t), 2, Tagged(Sensor.camera, CameraFrame(int(t), jpeg, w, h))))
    events.sort(key=lambda e: (e[0], e[1]))
    _reset_peak()
    cfg = OnlineConfig()
    if backend == "torch":  # small enough for the pure-PyTorch rasterizer
        cfg = replace(cfg, image_scale=0.125, max_gaussians=20_000)
    splat = OnlineSplat(cal, cfg, device, backend)
    t_first = events[0][0]
    backlog = []  # (scan time s, owed iterations)
    i, t0, next_sample = 0, time.perf_counter(), 0.0
    while i < len(events):
        now_ns = t_first + (time.perf_counter() - t0) * speed * 1e9
        while i < len(events) and events[i][0] <= now_ns:
            feed(splat, events[i][2])
            i += 1
        if splat.owed_iterations > 0:
            splat.train(max_iterations=TRAIN_BETWEEN_MESSAGES)
        else:
            time.sleep(0.001)
        scan_s = (now_ns - t_first) * 1e-9
        if scan_s >= next_sample:
            backlog.append((round(scan_s, 1), splat.owed_iterations))
            next_sample += 1.0
    _sync()
    at_end = splat.owed_iterations
    wall_s = time.perf_counter() - t0
    quality = splat.evaluate()
    return {
        "speed": speed,
        "wall_s": round(wall_s, 1),
        **splat.stats(),
        **quality,
        "owed_at_end": at_end,
        "owed_max": max(b for _, b in backlog),
        "backlog": backlog,
        "peak_gpu_mb": _peak_mb(),
    }


def train_run(
    keyframes: list,
    map_xyz_rgb: np.ndarray,  # [N, 6]
    cfg: TrainConfig,
    device: str,
    backend: str,
    stop_at: float,  # perf_counter time: training stops here if not done
    blind_xyz_rgb: np.ndarray | None,  # [M, 6]
) -> dict:
    _reset_peak()
    trainer = Trainer(keyframes, map_xyz_rgb, cfg, device, backend, blind_xyz_rgb)
    figures: dict = {
        "image_size": list(keyframes[0].image.shape[1::-1]),
        "init_points": trainer.init_points,
        "train_views": len(trainer.train_views),
        "test_views": len(trainer.test_views),
        "before": trainer.evaluate(),
        "render": render_timings(trainer, backend, reps=10 if device == "cuda" else 1),
    }
    t0 = time.perf_counter()
    while trainer.step < cfg.iterations and time.perf_counter() < stop_at:
        trainer.train_step()
        if trainer.step in (1000, 7000, 15000):
            _sync()
            figures[f"at_{trainer.step}"] = {
                **trainer.evaluate(),
                "train_s": round(time.perf_counter() - t0, 1),
            }
    _sync()
    train_s = time.perf_counter() - t0
    figures.update(
        iterations=trainer.step,
        reached_target_iterations=trainer.step >= cfg.iterations,
        train_s=round(train_s, 1),
        iterations_per_s=round(trainer.step / train_s, 1),
        peak_gpu_mb=_peak_mb(),
    )
    t0 = time.perf_counter()
    figures["after"] = trainer.evaluate(align=True)
    figures["evaluate_s"] = round(time.perf_counter() - t0, 1)
    return figures


def run(args: argparse.Namespace) -> None:
    t_start = time.perf_counter()
    figures: dict = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
    }

    def save() -> None:
        args.out.write_text(json.dumps(figures, indent=2))
        log.info("%s", json.dumps(figures)[-1500:])

    device = "cuda" if torch.cuda.is_available() else "cpu"  # the CPU: a dry run of this script
    if device == "cuda":
        figures["gsplat"] = compile_gsplat()
        save()
    backend = "gsplat" if device == "cuda" and figures["gsplat"]["ok"] else "torch"
    figures["backend"] = backend

    bundle = pickle.loads(args.bundle.read_bytes())
    from drivers.sessions.manifest import CameraCalibration

    cal = CameraCalibration(**bundle["calibration"])
    kf = bundle["keyframes"]
    map_xyz_rgb = np.column_stack([bundle["map_xyz"], bundle["map_rgb"]]).astype(np.float64)

    if args.online_speed > 0:
        figures["online"] = run_online(bundle, args.online_speed, device, backend)
        save()

    by_scale: dict[float, list] = {}
    figures["runs"] = []
    for spec in args.train:  # "SCALE,slam|gt,refine|fixed,ITERS,SECONDS[,fill|nofill]"
        scale_s, poses, refine, iters_s, seconds_s, *fill = spec.split(",")
        cfg = TrainConfig(
            iterations=int(iters_s),
            image_scale=float(scale_s),
            pose_refine=refine == "refine",
            blind_zone=fill != ["nofill"],
            checkpoint_every=10**9,
        )
        if backend == "torch":  # its (tile, Gaussian, pixel) terms fit memory for small images
            cfg = replace(cfg, image_scale=min(cfg.image_scale, 0.125), max_gaussians=50_000)
        if args.max_gaussians:
            cfg = replace(cfg, max_gaussians=args.max_gaussians)
        if args.align_steps is not None:
            cfg = replace(cfg, align_steps=args.align_steps)
        entry: dict = {"spec": spec}
        figures["runs"].append(entry)
        try:
            if cfg.image_scale not in by_scale:
                t0 = time.perf_counter()
                by_scale[cfg.image_scale] = make_keyframes(
                    cal, kf["jpegs"], kf["T_world_camera"], bundle["map_xyz"], cfg, kf["t_s"]
                )
                entry["setup_s"] = round(time.perf_counter() - t0, 1)
            keyframes = by_scale[cfg.image_scale]
            if poses == "gt":  # the true camera poses, in the SLAM's world frame
                keyframes = [
                    replace(k, viewmat=torch.tensor(np.linalg.inv(T), dtype=torch.float32))
                    for k, T in zip(keyframes, kf["T_world_camera_truth"], strict=True)
                ]
            stop_at = min(time.perf_counter() + float(seconds_s), t_start + args.deadline_s)
            blind = bundle.get("blind_zone_xyz_rgb", {}).get(poses) if cfg.blind_zone else None
            entry.update(train_run(keyframes, map_xyz_rgb, cfg, device, backend, stop_at, blind))
        except Exception as e:  # noqa: BLE001 - recorded; the next run goes on
            log.exception("run %s failed", spec)
            entry["error"] = f"{type(e).__name__}: {e}"
        save()
    figures["total_s"] = round(time.perf_counter() - t_start, 1)
    save()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("session", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--max-keyframes", type=int, default=200)
    r = sub.add_parser("run")
    r.add_argument("bundle", type=Path)
    r.add_argument("--out", type=Path, default=Path("splat_gpu.json"))
    r.add_argument(
        "--train",
        action="append",
        default=[],
        help="a training run: SCALE,slam|gt,refine|fixed,ITERATIONS,SECONDS[,fill|nofill] "
        "(repeatable; nofill: no blind-zone points), e.g. 1.0,slam,refine,30000,3600",
    )
    r.add_argument("--deadline-s", type=float, default=1e9, help="no training after this")
    r.add_argument("--max-gaussians", type=int, help="the initialisation's budget (map + blind)")
    r.add_argument("--align-steps", type=int, help="test-time alignment steps (0: none)")
    r.add_argument("--online-speed", type=float, default=2.0, help="x real time; 0 skips")
    args = ap.parse_args()
    if args.cmd == "prepare":
        prepare(args.session, args.out, args.max_keyframes)
    else:
        run(args)


if __name__ == "__main__":
    main()
