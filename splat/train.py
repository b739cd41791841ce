"""Train a splat on a processed session: its coloured map, trajectory and camera keyframes.

Per iteration: one training keyframe (splat/keyframes.py), rendered from its SLAM pose; the
loss (splat/losses.py) is (1 - l) L1 + l D-SSIM on the colour, plus a depth term against the
LiDAR map seen from that keyframe (the map's points projected, the nearest per pixel).
Densification is gsplat's DefaultStrategy, as TrainConfig.strategy sets it (splat/config.py).
Every `holdout_every`-th keyframe is held out and only evaluated (PSNR, SSIM).
The state (Gaussians, optimisers, strategy, iteration) is checkpointed, so a run resumes.

Multi-GPU: the loop is written per rank; under torchrun each rank would take its own keyframes
and gsplat's `distributed=True` rasterization would share the Gaussians. That is designed
for, not built: see splat/README.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from splat.config import TrainConfig
from splat.exposure import ExposureCorrections, colour_fit
from splat.gaussians import PARAM_NAMES, init_from_map
from splat.keyframes import Keyframe, load_keyframes
from splat.losses import depth_loss, photometric_loss, psnr, ssim
from splat.poses import PoseCorrections, align_view
from splat.render import Backend, render

log = logging.getLogger(__name__)


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
        ds = cfg.strategy
        self.strategy = DefaultStrategy(
            prune_opa=ds.prune_opa,
            grow_grad2d=ds.grow_grad2d,
            grow_scale3d=ds.grow_scale3d,
            prune_scale3d=ds.prune_scale3d,
            refine_start_iter=min(ds.refine_start_iter, cfg.iterations // 4),
            refine_stop_iter=int(cfg.iterations * ds.refine_stop_fraction),
            refine_every=ds.refine_every,
            reset_every=ds.reset_every,
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
        if cfg.depth_lambda > 0:
            depth = depth_loss(out.depth, out.alpha, view.depth.to(self.device))
            if depth is not None:
                loss = loss + cfg.depth_lambda * depth
        if cfg.strategy.enabled:
            self.strategy.step_pre_backward(
                self.params, self.optimizers, self.strategy_state, self.step, out.info
            )
        loss.backward()
        for opt in self.optimizers.values():
            opt.step()
            opt.zero_grad(set_to_none=True)
        for rows in self._view_rows().values():
            rows.step()
        if cfg.strategy.enabled:
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
