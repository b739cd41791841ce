"""The splat while the scan runs: keyframes from the live camera and poses, Gaussians from the
live map's new points, a few dozen iterations per keyframe.

A plain object, fed in any order the daemon sees things: poses and new map points from live SLAM,
images from the camera. An image waits until a pose after it has arrived, then takes the pose
interpolated at its time; one image a `keyframe_interval_s` becomes a keyframe. New map points
become Gaussians (coloured from the keyframe they are first seen in) up to `max_gaussians`, the
memory budget. `train()` runs what is owed: `iters_per_keyframe` for every keyframe so far.
Held-out keyframes (every `holdout_every`-th) are only evaluated.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from scipy.spatial.transform import Rotation, Slerp

from drivers.frames import CameraFrame
from drivers.sessions.manifest import CameraCalibration
from splat.camera import pinhole_K, pixels
from splat.gaussians import PARAM_NAMES, init_from_map
from splat.keyframes import Keyframe
from splat.losses import photometric_loss, psnr
from splat.render import Backend, render

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OnlineConfig:
    keyframe_interval_s: float = 1.0
    iters_per_keyframe: int = 50
    image_scale: float = 0.5
    max_gaussians: int = 300_000  # the GPU memory budget
    max_keyframes: int = 120  # the oldest training keyframes are dropped beyond this
    holdout_every: int = 8
    sh_degree: int = 1
    ssim_lambda: float = 0.2
    seed: int = 0
    lrs: dict = field(
        default_factory=lambda: {
            "means": 1.6e-4,
            "scales": 5e-3,
            "quats": 1e-3,
            "opacities": 5e-2,
            "sh0": 2.5e-3,
            "shN": 1.25e-4,
        }
    )


class OnlineSplat:
    def __init__(
        self,
        cal: CameraCalibration,
        cfg: OnlineConfig | None = None,
        device: str = "cpu",
        backend: Backend = "auto",
    ) -> None:
        if cal.model != "pinhole" or any(cal.distortion):
            raise ValueError("online splatting supports undistorted pinhole cameras only so far")
        self.cfg = cfg = cfg or OnlineConfig()
        self.device, self.backend = torch.device(device), backend
        s = cfg.image_scale
        self.size = (round(cal.width * s), round(cal.height * s))
        self.K = torch.tensor(pinhole_K(cal, s), dtype=torch.float32)
        self.T_lidar_camera = np.array(cal.T_lidar_camera)
        self.poses: deque[tuple[int, np.ndarray]] = deque()  # (t_ns, T_world_lidar [4, 4])
        self.images: deque[CameraFrame] = deque()  # waiting for a pose after them
        self.new_points: list[np.ndarray] = []  # [M, 3] world, not yet Gaussians
        self.train_views: deque[Keyframe] = deque(maxlen=cfg.max_keyframes)
        self.test_views: list[Keyframe] = []
        self.params: torch.nn.ParameterDict | None = None
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.n_keyframes = 0
        self.iterations = 0
        self.points_dropped = 0  # over the budget
        self.train_s = 0.0
        self._last_keyframe_ns: int | None = None
        self._rng = np.random.default_rng(cfg.seed)
        torch.manual_seed(cfg.seed)

    # --- inputs -----------------------------------------------------------------------------
    def add_pose(self, t_ns: int, T_world_lidar: np.ndarray) -> None:  # [4, 4]
        self.poses.append((int(t_ns), np.asarray(T_world_lidar, dtype=float)))
        while len(self.poses) > 2 and self.poses[0][0] < t_ns - 10_000_000_000:
            self.poses.popleft()  # 10 s of poses is plenty to place the images
        self._take_keyframes()

    def add_points(self, xyz_world: np.ndarray) -> None:  # [M, 3]
        if len(xyz_world):
            self.new_points.append(np.asarray(xyz_world, dtype=np.float64))

    def add_image(self, frame: CameraFrame) -> None:
        if self._last_keyframe_ns is not None and (
            frame.t_ns - self._last_keyframe_ns < self.cfg.keyframe_interval_s * 1e9
        ):
            return  # too soon after the last keyframe: not worth decoding
        self.images.append(frame)
        while len(self.images) > 50:
            self.images.popleft()  # no poses coming (SLAM not started yet): keep the newest
        self._take_keyframes()

    @property
    def owed_iterations(self) -> int:
        return self.n_keyframes * self.cfg.iters_per_keyframe - self.iterations

    # --- keyframes and Gaussians ------------------------------------------------------------
    def _pose_at(self, t_ns: int) -> np.ndarray | None:
        ts = np.array([t for t, _ in self.poses])
        if len(ts) < 2 or not ts[0] <= t_ns <= ts[-1]:
            return None
        i = int(np.clip(np.searchsorted(ts, t_ns), 1, len(ts) - 1))
        (t0, T0), (t1, T1) = self.poses[i - 1], self.poses[i]
        a = (t_ns - t0) / max(t1 - t0, 1)
        R = Slerp([0, 1], Rotation.from_matrix([T0[:3, :3], T1[:3, :3]]))(a).as_matrix()
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R, (1 - a) * T0[:3, 3] + a * T1[:3, 3]
        return T

    def _take_keyframes(self) -> None:
        while self.images and self.poses and self.images[0].t_ns <= self.poses[-1][0]:
            frame = self.images.popleft()
            if self._last_keyframe_ns is not None and (
                frame.t_ns - self._last_keyframe_ns < self.cfg.keyframe_interval_s * 1e9
            ):
                continue
            T_wl = self._pose_at(frame.t_ns)
            if T_wl is None:
                continue  # before the first pose
            img = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                log.warning("camera image at %d ns undecodable: skipped", frame.t_ns)
                continue
            img = cv2.resize(img, self.size, interpolation=cv2.INTER_AREA)[:, :, ::-1]
            viewmat = np.linalg.inv(T_wl @ self.T_lidar_camera)
            view = Keyframe(
                torch.tensor(img.astype(np.float32) / 255.0),
                torch.tensor(viewmat, dtype=torch.float32),
                self.K,
                torch.zeros(0),
                frame.t_ns * 1e-9,
            )
            self._last_keyframe_ns = frame.t_ns
            self._grow(img, viewmat)
            if self.n_keyframes % self.cfg.holdout_every == 0:
                self.test_views.append(view)
            else:
                self.train_views.append(view)
            self.n_keyframes += 1

    def _grow(self, img: np.ndarray, viewmat: np.ndarray) -> None:
        """The new map points become Gaussians, coloured from this keyframe where it sees them."""
        if not self.new_points:
            return
        pts = np.concatenate(self.new_points)
        n_have = 0 if self.params is None else len(self.params["means"])
        room = self.cfg.max_gaussians - n_have
        if len(pts) > room:
            self.points_dropped += len(pts) - max(room, 0)
            pts = pts[: max(room, 0)]
        if len(pts) < 4:
            # a handful waits for the next keyframe; none at all (the budget is spent): let go
            self.new_points = [pts] if len(pts) else []
            return
        self.new_points = []
        pc = pts @ viewmat[:3, :3].T + viewmat[:3, 3]
        u, v, seen = pixels(pc, self.K.numpy(), *self.size)
        rgb = np.full((len(pts), 3), 128, np.uint8)
        rgb[seen] = img[v[seen], u[seen]]
        new = init_from_map(pts, rgb, self.cfg.sh_degree)
        if self.params is None:
            merged = new
        else:
            merged = {k: torch.cat([self.params[k].detach().cpu(), new[k]]) for k in PARAM_NAMES}
        # a new set of tensors: fresh optimisers (Adam warms up again within a few iterations)
        self.params = torch.nn.ParameterDict(
            {k: torch.nn.Parameter(v.to(self.device)) for k, v in merged.items()}
        )
        self.optimizers = {
            k: torch.optim.Adam([self.params[k]], lr=self.cfg.lrs[k], eps=1e-15)
            for k in PARAM_NAMES
        }

    # --- training ---------------------------------------------------------------------------
    def train(self, max_iterations: int | None = None) -> int:
        """Run the owed iterations (at most max_iterations) -> how many ran."""
        n = (
            self.owed_iterations
            if max_iterations is None
            else min(self.owed_iterations, max_iterations)
        )
        if self.params is None or not self.train_views or n <= 0:
            return 0
        t0 = time.perf_counter()
        cfg = self.cfg
        for _ in range(n):
            view = self.train_views[int(self._rng.integers(len(self.train_views)))]
            out = self._render(view)
            loss = photometric_loss(out.rgb, view.image.to(self.device), cfg.ssim_lambda)
            loss.backward()
            for opt in self.optimizers.values():
                opt.step()
                opt.zero_grad(set_to_none=True)
            self.iterations += 1
        self.train_s += time.perf_counter() - t0
        return n

    def _render(self, view: Keyframe):
        w, h = self.size
        return render(
            dict(self.params),
            view.viewmat.to(self.device),
            view.K.to(self.device),
            w,
            h,
            self.cfg.sh_degree,
            self.backend,
        )

    @torch.no_grad()
    def evaluate(self) -> dict:
        views = self.test_views or list(self.train_views)[-1:]
        scores = [psnr(self._render(v).rgb, v.image.to(self.device)) for v in views]
        return {
            "psnr_db": round(float(np.mean(scores)), 3) if scores else None,
            "views": len(scores),
            "held_out": bool(self.test_views),
        }

    def stats(self) -> dict:
        return {
            "keyframes": self.n_keyframes,
            "iterations": self.iterations,
            "gaussians": 0 if self.params is None else len(self.params["means"]),
            "points_dropped": self.points_dropped,
            "train_s": round(self.train_s, 2),
            "iterations_per_s": round(self.iterations / self.train_s, 2) if self.train_s else None,
        }

    def export(self, out_dir) -> bool:
        """splat.ply and scene.splat into out_dir (each written whole, then renamed)."""
        from splat.export import write_ply, write_splat

        if self.params is None:
            return False
        params = {k: v.detach() for k, v in self.params.items()}
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_ply(out / "splat.ply", params)
        write_splat(out / "scene.splat", params)
        return True
