"""Splat settings in the scanner's config (`[splat]`): whether processing trains one, and how."""

from __future__ import annotations

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


def train_config(sc: SplatConfig):  # -> splat.train.TrainConfig
    """The offline training settings these give (the rest keep TrainConfig's defaults)."""
    from splat.train import TrainConfig

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
