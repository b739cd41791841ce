"""Exposure compensation: an auto-exposed camera brightens and darkens the same wall from one
keyframe to the next, and a splat without it learns the flicker as floaters and wrong colours.

Each training keyframe gets a learned affine colour transform, rgb <- (I + A) rgb + b (12
numbers, zero at the start), applied to its render before the loss, as NeRF-W's per-image
appearance codes and gsplat's appearance options absorb it; the Gaussians keep one colour. A
held-out view's exposure is unknown, so it is also scored after the least-squares affine colour
fit of its render to its image (Mip-NeRF 360's colour-corrected PSNR).
"""

from __future__ import annotations

import torch
from torch import Tensor

from splat.poses import ViewRows


class ExposureCorrections(ViewRows):
    """One affine colour transform per keyframe (12 numbers: A row-major, then b). Keyframe 0
    is the reference and keeps the identity: otherwise every transform could drift together
    while the Gaussians' colours drift the other way."""

    def __init__(self, n_views: int, lr: float, device: torch.device) -> None:
        super().__init__(n_views, 12, lr, device)

    def forward(self, i: int, rgb: Tensor) -> Tensor:  # [H, W, 3] -> [H, W, 3]
        if i == 0:
            return rgb
        p = self.row(i, rgb.device)
        A = torch.eye(3, device=rgb.device) + p[:9].view(3, 3)
        return rgb @ A.T + p[9:]

    def gains(self) -> Tensor:  # -> [n_views] each transform's mean diagonal
        w = self.rows.weight.detach()
        return 1.0 + (w[:, 0] + w[:, 4] + w[:, 8]) / 3

    def magnitudes(self) -> dict:
        """The learned gains and offsets, smallest and largest."""
        gain = self.gains()
        offset = self.rows.weight.detach()[:, 9:].mean(dim=1)
        return {
            "gain_min": round(float(gain.min()), 4),
            "gain_max": round(float(gain.max()), 4),
            "offset_min": round(float(offset.min()), 4),
            "offset_max": round(float(offset.max()), 4),
        }


def colour_fit(rgb: Tensor, image: Tensor) -> Tensor:  # [H, W, 3] x2 -> [H, W, 3]
    """The render under the affine colour transform that best explains the image (least
    squares, 12 numbers for the whole image)."""
    x = torch.cat([rgb.reshape(-1, 3), torch.ones_like(rgb.reshape(-1, 3)[:, :1])], dim=1)
    w = torch.linalg.lstsq(x.double(), image.reshape(-1, 3).double()).solution  # [4, 3]
    return (x.double() @ w).to(rgb.dtype).reshape(image.shape)
