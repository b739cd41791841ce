"""Training losses and image scores: 3DGS's L1 + D-SSIM, the LiDAR depth term, SSIM and PSNR."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as nnf
from torch import Tensor


def photometric_loss(
    rgb: Tensor,  # [H, W, 3]
    gt: Tensor,  # [H, W, 3]
    ssim_lambda: float,
) -> Tensor:  # -> scalar
    """3DGS's image loss: (1 - lambda) L1 + lambda D-SSIM."""
    return (1 - ssim_lambda) * (rgb - gt).abs().mean() + ssim_lambda * (1 - ssim(rgb, gt))


def depth_loss(
    depth: Tensor,  # [H, W] rendered
    alpha: Tensor,  # [H, W] rendered
    lidar: Tensor,  # [H, W] the LiDAR map's depth, 0 where none
) -> Tensor | None:  # -> scalar, None where no pixel has both
    """L1 on inverse depth, over the pixels with a LiDAR depth that the render covers (alpha >
    0.5)."""
    has = (lidar > 0) & (alpha > 0.5)
    if not has.any():
        return None
    return (1 / depth[has] - 1 / lidar[has]).abs().mean()


def ssim(
    a: Tensor,  # [H, W, 3]
    b: Tensor,  # [H, W, 3]
    window: int = 11,
) -> Tensor:  # -> scalar
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


def psnr(
    a: Tensor,  # [H, W, 3] rendered, clamped to [0, 1] here
    b: Tensor,  # [H, W, 3] in [0, 1]
) -> float:
    """Peak signal-to-noise ratio, in dB."""
    mse = nnf.mse_loss(a.clamp(0, 1), b).item()
    return 10.0 * math.log10(1.0 / max(mse, 1e-12))
