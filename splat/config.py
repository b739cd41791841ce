"""Splat settings: the scanner's config (`[splat]`: whether processing trains one, and how), the
offline training's TrainConfig with its densification strategy, and the map from one to the
other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SplatConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(
        False, description="train a splat after each scan's map (needs a calibrated camera)"
    )
    iterations: int = Field(7000, ge=1, description="training iterations after the scan")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA if present")
    image_scale: float = Field(1.0, gt=0.0, le=1.0, description="keyframes resized by this")
    map_voxel_m: float = Field(0.0, ge=0.0, description="thin the map first (0 = as it is)")
    max_gaussians: int = Field(1_000_000, ge=1000, description="GPU memory budget, in Gaussians")
    pose_refine: bool = Field(
        True, description="learn a small correction of each keyframe's SLAM pose while training"
    )
    blind_zone: bool = Field(
        True,
        description="add points triangulated from the keyframes where the LiDAR saw nothing "
        "(a level Mid-360 never sees the floor near the operator)",
    )
    exposure: bool = Field(
        False,
        description="learn each keyframe's colour transform: for auto-exposed cameras (held-out "
        "views are then also scored after a colour fit)",
    )
    align_steps: int = Field(
        100, ge=0, description="test-time pose alignment of held-out views before scoring (0: none)"
    )

    online: bool = Field(
        False, description="also train one while the scan runs (device/splat_worker)"
    )
    online_iters_per_keyframe: int = Field(50, ge=1, description="one keyframe a second")
    online_image_scale: float = Field(0.5, gt=0.0, le=1.0)
    online_max_gaussians: int = Field(300_000, ge=1000, description="its GPU memory budget")
    online_export_every_s: float = Field(
        10.0, gt=0.0, description="how often the live splat is written into the scan's products"
    )

    def torch_device(self) -> str:
        """ "cpu" or "cuda": `device`, with auto meaning CUDA when there is a GPU."""
        if self.device != "auto":
            return self.device
        return "cuda" if _cuda_available() else "cpu"


def with_options(sc: SplatConfig, **options: object) -> SplatConfig:
    """`sc` with each option that was given (not None) in place of its own setting: a command's
    options over the config's [splat]. Keys are SplatConfig's fields."""
    return sc.model_copy(update={k: v for k, v in options.items() if v is not None})


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@dataclass(frozen=True)
class DensifyStrategy:
    """How the Gaussians grow and are pruned: gsplat's DefaultStrategy with these settings
    (the thresholds are gsplat's defaults; the schedule scales with the run's length)."""

    enabled: bool = True
    refine_start_iter: int = 500  # or a quarter of the run if that comes sooner
    refine_stop_fraction: float = 0.5  # no more refinement after this fraction of the run
    refine_every: int = 100
    reset_every: int = 3000  # opacities reset this often
    grow_grad2d: float = 2e-4  # clone or split a Gaussian whose mean moves this much on screen
    grow_scale3d: float = 0.01  # clone below this size (times the scene scale), split above
    prune_opa: float = 0.005
    prune_scale3d: float = 0.1  # times the scene scale


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
    strategy: DensifyStrategy = field(default_factory=DensifyStrategy)
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


def train_config(sc: SplatConfig) -> TrainConfig:
    """The offline training settings these give (the rest keep TrainConfig's defaults)."""
    return TrainConfig(
        iterations=sc.iterations,
        image_scale=sc.image_scale,
        map_voxel_m=sc.map_voxel_m,
        max_gaussians=sc.max_gaussians,
        pose_refine=sc.pose_refine,
        blind_zone=sc.blind_zone,
        exposure=sc.exposure,
        align_steps=sc.align_steps,
    )
