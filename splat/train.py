"""Train a splat on a processed session: its coloured map, trajectory and camera keyframes.

Per iteration: one training keyframe, rendered from its SLAM pose; the loss is
(1 - l) L1 + l D-SSIM on the colour, plus a depth term against the LiDAR map seen from that
keyframe (the map's points projected, the nearest per pixel). Densification is gsplat's
DefaultStrategy. Every `holdout_every`-th keyframe is held out and only evaluated (PSNR, SSIM).
The state (Gaussians, optimisers, strategy, iteration) is checkpointed, so a run resumes.

Multi-GPU: the loop is written per rank; under torchrun each rank would take its own keyframes
and gsplat's `distributed=True` rasterization would share the Gaussians. That is designed
for, not built: see splat/README.md.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as nnf
from torch import Tensor

from splat.exposure import ExposureCorrections, colour_fit
from splat.gaussians import PARAM_NAMES, init_from_map
from splat.poses import PoseCorrections, align_view
from splat.render import Backend, render

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    iterations: int = 30_000
    sh_degree: int = 3
    sh_increase_every: int = 1000  # one more SH band every this many iterations
    image_scale: float = 1.0  # keyframes resized by this (a small crop trains fast on a CPU)
    crop: tuple[int, int, int, int] | None = None  # x, y, w, h of the (scaled) image to use
    max_keyframes: int = 200
    holdout_every: int = 8  # every n-th keyframe is for evaluation only
    ssim_lambda: float = 0.2
    depth_lambda: float = 0.1  # weight of the LiDAR depth term (L1 on inverse depth)
    map_voxel_m: float = 0.0  # thin the map before initialising (0 = every point)
    max_gaussians: int = 1_000_000  # the initialisation keeps at most this many
    densify: bool = True
    blind_zone: bool = True  # add points triangulated where the LiDAR saw nothing (the floor)
    pose_refine: bool = True  # learn a small correction of each keyframe's SLAM pose
    lr_pose: float = 3e-5  # SparseAdam: a keyframe's first visits move it ~3x this (rad, m)
    lr_pose_final_ratio: float = 0.1  # decays exponentially to this fraction by the last step
    align_steps: int = 100  # test-time alignment of a held-out view before the final score
    exposure: bool = False  # learn each keyframe's colour transform (auto-exposed cameras)
    lr_exposure: float = 5e-3  # SparseAdam, on the 12 numbers of each keyframe's transform
    checkpoint_every: int = 1000
    seed: int = 0
    lr_means: float = 1.6e-4  # times the scene scale
    lr_means_final_ratio: float = 0.01  # decays exponentially to this fraction (3DGS, gsplat)
    lr_scales: float = 5e-3
    lr_quats: float = 1e-3
    lr_opacities: float = 5e-2
    lr_sh0: float = 2.5e-3
    lr_sh_rest: float = 2.5e-3 / 20


@dataclass
class Keyframe:
    image: Tensor  # [H, W, 3] float in [0, 1]
    viewmat: Tensor  # [4, 4] T_camera_world
    K: Tensor  # [3, 3]
    depth: Tensor  # [H, W] LiDAR depth, 0 where none
    t_s: float


def load_keyframes(
    session: Path, cfg: TrainConfig
) -> tuple[list[Keyframe], np.ndarray, np.ndarray]:
    """The session's camera keyframes with their SLAM poses, its map, and (cfg.blind_zone) the
    points triangulated where the LiDAR saw nothing -> (keyframes, map [N, 6], blind [M, 6])."""
    cal, frames, T_world_camera, map_xyz_rgb = pick_keyframes(session, cfg)
    jpegs = [f.jpeg for f in frames]
    keyframes = make_keyframes(
        cal, jpegs, T_world_camera, map_xyz_rgb[:, :3], cfg, [f.t_s for f in frames]
    )
    blind = np.zeros((0, 6))
    if cfg.blind_zone:
        try:
            blind = blind_zone(cal, jpegs, T_world_camera, map_xyz_rgb[:, :3])
        except (cv2.error, ValueError) as exc:  # the map alone still trains a splat
            log.warning("%s: no blind-zone points: %s", session, exc)
    return keyframes, map_xyz_rgb, blind


def blind_zone(
    cal,  # CameraCalibration (pinhole, undistorted)
    jpegs: list[bytes],
    T_world_camera: np.ndarray,  # [K, 4, 4]
    map_xyz: np.ndarray,  # [N, 3]
) -> np.ndarray:  # -> [M, 6] xyz, rgb
    """Points triangulated from the full-resolution keyframes where the map has none
    (splat/triangulate.py)."""
    from splat.triangulate import blind_zone_points

    images, poses = [], []
    for jpeg, T in zip(jpegs, T_world_camera, strict=True):
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if img is not None:
            images.append(np.ascontiguousarray(img[:, :, ::-1]))
            poses.append(T)
    return blind_zone_points(images, opencv_K(cal), np.array(poses).reshape(-1, 4, 4), map_xyz)


def pick_keyframes(session: Path, cfg: TrainConfig):
    """Which camera frames to train on, and where the SLAM put them -> (calibration, frames,
    T_world_camera [K, 4, 4], map [N, 6] xyz and rgb)."""
    from drivers.sessions.manifest import read_manifest
    from drivers.sessions.replay import SessionSource
    from drivers.sessions.trajectory import read_tum
    from drivers.source import Sensor
    from products.colour import ColourSettings, camera_poses, select_keyframes
    from products.export import read_ply

    products = session / "products"
    cal = read_manifest(session).calibration.camera
    if cal is None:
        raise ValueError(f"{session}: no camera calibration: nothing to train a splat on")
    if cal.model != "pinhole" or any(cal.distortion):
        raise ValueError(f"{session}: only undistorted pinhole cameras are supported so far")
    t_traj, T_world_lidar = read_tum(products / "trajectory.tum")
    cloud = read_ply(products / "map.ply")
    frames = [t.frame for t in SessionSource(session, sensors=(Sensor.camera,)).frames()]
    if not frames:
        raise ValueError(f"{session}: no camera images")
    keep, T_wc = camera_poses(
        np.array([f.t_s for f in frames]), t_traj, T_world_lidar, np.array(cal.T_lidar_camera)
    )
    frames = [f for f, k in zip(frames, keep, strict=True) if k]
    chosen = select_keyframes(
        T_wc, ColourSettings(min_baseline_m=0.1, min_turn_deg=5.0, max_keyframes=cfg.max_keyframes)
    )
    colours = cloud.rgb if cloud.rgb is not None else np.full((len(cloud), 3), 128, np.uint8)
    return cal, [frames[i] for i in chosen], T_wc[chosen], np.column_stack([cloud.xyz_m, colours])


def make_keyframes(
    cal,  # CameraCalibration (pinhole, undistorted)
    jpegs: list[bytes],
    T_world_camera: np.ndarray,  # [K, 4, 4]
    map_xyz: np.ndarray,  # [N, 3] for the LiDAR depth
    cfg: TrainConfig,
    t_s: list[float],  # [K] the images' times
) -> list[Keyframe]:
    """Decode, scale and crop the images, and render the map's sparse depth into each."""
    s = cfg.image_scale
    K = pinhole_K(cal, s)
    w, h = round(cal.width * s), round(cal.height * s)
    x0, y0 = 0, 0
    if cfg.crop is not None:
        x0, y0, w, h = cfg.crop
        K[0, 2] -= x0
        K[1, 2] -= y0
    keyframes = []
    for i, jpeg in enumerate(jpegs):
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            continue
        if s != 1.0:
            img = cv2.resize(img, (round(cal.width * s), round(cal.height * s)), cv2.INTER_AREA)
        img = img[y0 : y0 + h, x0 : x0 + w, ::-1]
        viewmat = np.linalg.inv(T_world_camera[i])
        pc = map_xyz @ viewmat[:3, :3].T + viewmat[:3, 3]
        depth = _sparse_depth(pc, K, w, h)
        keyframes.append(
            Keyframe(
                torch.tensor(img.astype(np.float32) / 255.0),
                torch.tensor(viewmat, dtype=torch.float32),
                torch.tensor(K, dtype=torch.float32),
                torch.tensor(depth),
                t_s[i],
            )
        )
    return keyframes


def opencv_K(cal) -> np.ndarray:  # -> [3, 3]
    """The calibration's intrinsics as calibrated (OpenCV, ROS): pixel centres at integers."""
    return np.array([[cal.fx, 0.0, cal.cx], [0.0, cal.fy, cal.cy], [0.0, 0.0, 1.0]])


def pinhole_K(cal, scale: float = 1.0) -> np.ndarray:  # -> [3, 3]
    """The calibration's intrinsics for an image resized by scale, in gsplat's convention: pixel
    (0, 0) spans [0, 1), its centre at 0.5. Calibrations (OpenCV, ROS) put that centre at 0, so
    the principal point moves by half a pixel before scaling."""
    K = opencv_K(cal)
    K[:2, 2] += 0.5
    K[:2] *= scale
    return K


def pixels(
    pc: np.ndarray, K: np.ndarray, w: int, h: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # [N, 3] camera frame, [3, 3]
    """The pixel each point falls in -> (u [N], v [N] int, seen [N]: in front and inside)."""
    z = np.where(pc[:, 2] > 0.1, pc[:, 2], np.inf)  # behind the camera: far off the image
    u = np.floor(pc[:, 0] / z * K[0, 0] + K[0, 2]).astype(np.int64)
    v = np.floor(pc[:, 1] / z * K[1, 1] + K[1, 2]).astype(np.int64)
    seen = np.isfinite(z) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    return u, v, seen


def _sparse_depth(pc: np.ndarray, K: np.ndarray, w: int, h: int) -> np.ndarray:  # [N, 3]
    """The nearest map point's depth in each pixel ([h, w] float32, 0 where none)."""
    u, v, seen = pixels(pc, K, w, h)
    depth = np.full(h * w, np.inf, np.float32)
    np.minimum.at(depth, v[seen] * w + u[seen], pc[seen, 2].astype(np.float32))
    depth[~np.isfinite(depth)] = 0.0
    return depth.reshape(h, w)


def psnr(a: Tensor, b: Tensor) -> float:  # [H, W, 3] in [0, 1]
    mse = nnf.mse_loss(a.clamp(0, 1), b).item()
    return 10.0 * math.log10(1.0 / max(mse, 1e-12))


def photometric_loss(rgb: Tensor, gt: Tensor, ssim_lambda: float) -> Tensor:  # [H, W, 3] x2
    """3DGS's image loss: (1 - lambda) L1 + lambda D-SSIM."""
    return (1 - ssim_lambda) * (rgb - gt).abs().mean() + ssim_lambda * (1 - ssim(rgb, gt))


def ssim(a: Tensor, b: Tensor, window: int = 11) -> Tensor:  # [H, W, 3] -> scalar
    """SSIM with a Gaussian window (sigma 1.5), as the 3DGS paper computes it."""
    x, y = a.permute(2, 0, 1)[None], b.permute(2, 0, 1)[None]
    g = torch.exp(-((torch.arange(window) - window // 2) ** 2) / (2 * 1.5**2))
    g = (g / g.sum()).to(a)
    k = (g[:, None] @ g[None, :]).expand(3, 1, window, window)

    def blur(t: Tensor) -> Tensor:
        return nnf.conv2d(t, k, padding=window // 2, groups=3)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return s.mean()


class Trainer:
    """Gaussians, their optimisers and the densification strategy, over one session."""

    def __init__(
        self,
        keyframes: list[Keyframe],
        map_xyz_rgb: np.ndarray,  # [N, 6]
        cfg: TrainConfig,
        device: str = "cpu",
        backend: Backend = "auto",
        blind_xyz_rgb: np.ndarray | None = None,  # [M, 6] added as they are (never thinned)
    ) -> None:
        from gsplat.strategy import DefaultStrategy

        torch.manual_seed(cfg.seed)
        self.cfg, self.device, self.backend = cfg, torch.device(device), backend
        self.train_views = [k for i, k in enumerate(keyframes) if i % cfg.holdout_every != 0]
        self.test_views = [k for i, k in enumerate(keyframes) if i % cfg.holdout_every == 0]
        if not self.train_views or not self.test_views:
            raise ValueError(f"{len(keyframes)} keyframes: too few to train and hold some out")
        pts = map_xyz_rgb
        if cfg.map_voxel_m > 0:
            from slam.preprocess import voxel_downsample

            pts = pts[voxel_downsample(pts[:, :3], cfg.map_voxel_m)]
        blind = np.zeros((0, 6)) if blind_xyz_rgb is None else blind_xyz_rgb[: cfg.max_gaussians]
        budget = cfg.max_gaussians - len(blind)
        if len(pts) > budget:
            pts = pts[np.random.default_rng(cfg.seed).choice(len(pts), budget, False)]
        self.init_points = {"lidar": len(pts), "blind_zone": len(blind)}
        pts = np.concatenate([pts[:, :6], blind])
        init = init_from_map(pts[:, :3], pts[:, 3:6], cfg.sh_degree)
        self.params = torch.nn.ParameterDict(
            {k: torch.nn.Parameter(v.to(self.device)) for k, v in init.items()}
        )
        centres = np.array([np.linalg.inv(k.viewmat.numpy())[:3, 3] for k in keyframes])
        self.scene_scale = float(np.linalg.norm(centres - centres.mean(0), axis=1).max() * 1.1)
        self.scene_scale = max(self.scene_scale, 1.0)
        lrs = {
            "means": cfg.lr_means * self.scene_scale,
            "scales": cfg.lr_scales,
            "quats": cfg.lr_quats,
            "opacities": cfg.lr_opacities,
            "sh0": cfg.lr_sh0,
            "shN": cfg.lr_sh_rest,
        }
        self.optimizers = {
            k: torch.optim.Adam([{"params": self.params[k], "lr": lrs[k], "name": k}], eps=1e-15)
            for k in PARAM_NAMES
        }
        self.strategy = DefaultStrategy(
            refine_start_iter=min(500, cfg.iterations // 4),
            refine_stop_iter=int(cfg.iterations * 0.5),
            reset_every=3000,
            verbose=False,
        )
        self.strategy.check_sanity(self.params, self.optimizers)
        self.strategy_state = self.strategy.initialize_state(scene_scale=self.scene_scale)
        self.poses = (
            PoseCorrections(len(self.train_views), cfg.lr_pose, self.device)
            if cfg.pose_refine
            else None
        )
        self.exposure = (
            ExposureCorrections(len(self.train_views), cfg.lr_exposure, self.device)
            if cfg.exposure
            else None
        )
        self.step = 0

    def _schedule(self) -> None:
        """The means' and poses' learning rates at this step (from the step alone, so a resumed
        run continues the same schedule)."""
        cfg, done = self.cfg, self.step / max(self.cfg.iterations, 1)
        means = self.optimizers["means"].param_groups[0]
        means["lr"] = cfg.lr_means * self.scene_scale * cfg.lr_means_final_ratio**done
        if self.poses is not None:
            self.poses.optimizer.param_groups[0]["lr"] = cfg.lr_pose * cfg.lr_pose_final_ratio**done

    def _render(self, view: Keyframe, sh_degree: int, viewmat: Tensor | None = None, params=None):
        h, w = view.image.shape[:2]
        return render(
            dict(self.params) if params is None else params,
            view.viewmat.to(self.device) if viewmat is None else viewmat,
            view.K.to(self.device),
            w,
            h,
            sh_degree,
            self.backend,
        )

    def train_step(self) -> float:
        cfg = self.cfg
        i = self.step % len(self.train_views)
        view = self.train_views[i]
        sh_degree = min(self.step // cfg.sh_increase_every, cfg.sh_degree)
        self._schedule()
        viewmat = view.viewmat.to(self.device)
        if self.poses is not None:
            viewmat = self.poses(i, viewmat)
        out = self._render(view, sh_degree, viewmat)
        rgb = out.rgb if self.exposure is None else self.exposure(i, out.rgb)
        loss = photometric_loss(rgb, view.image.to(self.device), cfg.ssim_lambda)
        lidar = view.depth.to(self.device)
        has = (lidar > 0) & (out.alpha > 0.5)
        if cfg.depth_lambda > 0 and has.any():
            loss = loss + cfg.depth_lambda * (1 / out.depth[has] - 1 / lidar[has]).abs().mean()
        if cfg.densify:
            self.strategy.step_pre_backward(
                self.params, self.optimizers, self.strategy_state, self.step, out.info
            )
        loss.backward()
        for opt in self.optimizers.values():
            opt.step()
            opt.zero_grad(set_to_none=True)
        for rows in self._view_rows().values():
            rows.step()
        if cfg.densify:
            self.strategy.step_post_backward(
                self.params, self.optimizers, self.strategy_state, self.step, out.info
            )
        self.step += 1
        return loss.item()

    def evaluate(self, align: bool = False) -> dict:
        """PSNR and SSIM over the held-out keyframes at their SLAM poses, and with align also
        after test-time pose alignment (cfg.align_steps steps; the scene stays frozen). With
        exposure compensation, also after fitting each render's colours to its image."""
        sh_degree = min(self.step // self.cfg.sh_increase_every, self.cfg.sh_degree)
        frozen = {k: v.detach() for k, v in self.params.items()}
        scores: dict[str, list[float]] = {"psnr_db": [], "ssim": []}
        if align and self.cfg.align_steps > 0:
            scores |= {"psnr_db_aligned": [], "ssim_aligned": []}
        for view in self.test_views:
            gt = view.image.to(self.device)
            viewmats = {"": view.viewmat.to(self.device)}
            if "psnr_db_aligned" in scores:
                viewmats["_aligned"] = align_view(
                    lambda vm, v=view: self._render(v, sh_degree, vm, frozen).rgb,
                    viewmats[""],
                    gt,
                    self.cfg.align_steps,
                )
            with torch.no_grad():
                for suffix, vm in viewmats.items():
                    out = self._render(view, sh_degree, vm, frozen)
                    scores["psnr_db" + suffix].append(psnr(out.rgb, gt))
                    scores["ssim" + suffix].append(float(ssim(out.rgb.clamp(0, 1), gt)))
                if self.exposure is not None:  # the last render: aligned if it was
                    scores.setdefault("psnr_db_colour_fit", []).append(
                        psnr(colour_fit(out.rgb, gt), gt)
                    )
        figures = {k: round(float(np.mean(v)), 4 if "ssim" in k else 3) for k, v in scores.items()}
        figures |= {"views": len(self.test_views), "gaussians": len(frozen["means"])}
        if self.poses is not None:
            figures["pose_corrections"] = self.poses.magnitudes()
        if self.exposure is not None:
            figures["exposure_corrections"] = self.exposure.magnitudes()
        return figures

    def _view_rows(self) -> dict:
        """The per-keyframe learned corrections in use, by name (as the checkpoint keeps them)."""
        rows = {"poses": self.poses, "exposure": self.exposure}
        return {name: r for name, r in rows.items() if r is not None}

    # --- checkpoints ------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        tmp = Path(path).with_suffix(".tmp")
        torch.save(
            {
                "step": self.step,
                "config": asdict(self.cfg),
                "params": {k: v.detach().cpu() for k, v in self.params.items()},
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                **{name: r.state_dict() for name, r in self._view_rows().items()},
                **{
                    f"{name}_optimizer": r.optimizer.state_dict()
                    for name, r in self._view_rows().items()
                },
                "strategy_state": {
                    k: v.cpu() if isinstance(v, Tensor) else v
                    for k, v in self.strategy_state.items()
                },
            },
            tmp,
        )
        tmp.replace(path)

    def load(self, path: Path) -> None:
        ck = torch.load(path, map_location=self.device, weights_only=False)
        for k, v in ck["params"].items():
            self.params[k] = torch.nn.Parameter(v.to(self.device))
        for k, opt in self.optimizers.items():
            opt.param_groups[0]["params"] = [self.params[k]]
            opt.load_state_dict(ck["optimizers"][k])
        self.strategy_state.update(
            {
                k: v.to(self.device) if isinstance(v, Tensor) else v
                for k, v in ck["strategy_state"].items()
            }
        )
        for name, rows in self._view_rows().items():
            if ck.get(name) is not None:
                rows.load_state_dict(ck[name])
                rows.optimizer.load_state_dict(ck[f"{name}_optimizer"])
        self.step = ck["step"]


def train_session(
    session: Path,
    out_dir: Path,
    cfg: TrainConfig,
    device: str = "cpu",
    backend: Backend = "auto",
    progress: Callable[[int, float], None] | None = None,  # (iteration, loss)
) -> dict:
    """Train (resuming from out_dir/.checkpoint.pt if there is one) and write splat.ply and
    scene.splat into out_dir -> the figures (initial and final held-out PSNR/SSIM, time)."""
    import json

    from splat.export import write_ply, write_splat

    out_dir.mkdir(parents=True, exist_ok=True)
    keyframes, map_pts, blind = load_keyframes(session, cfg)
    trainer = Trainer(keyframes, map_pts, cfg, device, backend, blind)
    checkpoint = out_dir / ".checkpoint.pt"  # hidden: the API serves no dot-file
    if checkpoint.exists():
        trainer.load(checkpoint)
        log.info("resumed from %s at iteration %d", checkpoint, trainer.step)
    before = trainer.evaluate()
    t0 = time.perf_counter()
    start = trainer.step
    while trainer.step < cfg.iterations:
        loss = trainer.train_step()
        if progress:
            progress(trainer.step, loss)
        if trainer.step % cfg.checkpoint_every == 0:
            trainer.save(checkpoint)
    wall_s = time.perf_counter() - t0
    trainer.save(checkpoint)
    after = trainer.evaluate(align=True)
    params = {k: v.detach() for k, v in trainer.params.items()}
    write_ply(out_dir / "splat.ply", params)
    write_splat(out_dir / "scene.splat", params)
    figures = {
        "iterations": trainer.step,
        "trained_iterations": trainer.step - start,
        "train_s": round(wall_s, 2),
        "iterations_per_s": round((trainer.step - start) / wall_s, 2) if wall_s > 0 else None,
        "train_views": len(trainer.train_views),
        "test_views": len(trainer.test_views),
        "image_size": list(keyframes[0].image.shape[1::-1]),
        "init_points": trainer.init_points,
        "before": before,
        "after": after,
        "device": device,
        "config": asdict(cfg),
    }
    (out_dir / "splat.json").write_text(json.dumps(figures, indent=2))
    return figures
