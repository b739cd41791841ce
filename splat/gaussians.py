"""The Gaussians as a dict of tensors (gsplat's layout), initialised from the coloured LiDAR map.

A LiDAR splat starts where the surfaces are: one Gaussian per map point, its colour the
point's, isotropic with the mean distance to its three nearest neighbours, half transparent.
That is why it converges in few iterations and has no floaters.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor

SH_C0 = 0.28209479177387814  # the degree-0 spherical harmonic: colour = SH_C0 * sh0 + 0.5
PARAM_NAMES = ("means", "scales", "quats", "opacities", "sh0", "shN")


def rgb_to_sh0(rgb: np.ndarray) -> np.ndarray:  # [N, 3] in [0, 1] -> [N, 3]
    return (rgb - 0.5) / SH_C0


def sh0_to_rgb(sh0: np.ndarray) -> np.ndarray:  # [N, 3] -> [N, 3] in [0, 1] (unclipped)
    return sh0 * SH_C0 + 0.5


def init_from_map(
    xyz_m: np.ndarray,  # [N, 3] world
    rgb: np.ndarray,  # [N, 3] uint8
    sh_degree: int = 3,
    initial_opacity: float = 0.5,
    max_scale_m: float = 0.5,
) -> dict[str, Tensor]:
    """One Gaussian per map point -> {means, scales (log), quats (wxyz), opacities (logit),
    sh0 [N, 1, 3], shN [N, (d+1)^2 - 1, 3]}."""
    n = len(xyz_m)
    if n < 4:
        raise ValueError(f"need at least 4 map points to initialise a splat, got {n}")
    d, _ = cKDTree(xyz_m).query(xyz_m, k=4)  # the point itself, then three neighbours
    scale = np.clip(d[:, 1:].mean(axis=1), 1e-4, max_scale_m)
    quats = np.zeros((n, 4))
    quats[:, 0] = 1.0
    n_rest = (sh_degree + 1) ** 2 - 1
    sh0 = rgb_to_sh0(np.asarray(rgb, np.float64) / 255.0)
    logit = np.log(initial_opacity / (1.0 - initial_opacity))
    f32 = torch.float32
    return {
        "means": torch.tensor(xyz_m, dtype=f32),
        "scales": torch.tensor(np.log(scale)[:, None].repeat(3, axis=1), dtype=f32),
        "quats": torch.tensor(quats, dtype=f32),
        "opacities": torch.full((n,), logit, dtype=f32),
        "sh0": torch.tensor(sh0[:, None, :], dtype=f32),
        "shN": torch.zeros((n, n_rest, 3), dtype=f32),
    }
