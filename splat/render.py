"""Render Gaussians into a pinhole camera: gsplat's CUDA rasterizer, or a pure-PyTorch one.

Both follow gsplat's rules, so their images agree: the projection, covariances and spherical
harmonics are gsplat's own PyTorch reference code (`gsplat.cuda._torch_impl`); the
rasterization here is per 16x16 tile, front to back, with gsplat's constants (pixel centres at
+0.5, alpha capped at 0.999, contributions under 1/255 skipped, a pixel done once its
transmittance would fall under 1e-4). gsplat's own PyTorch rasterizer needs CUDA kernels to find
its intersections, hence this one. It keeps every (tile, Gaussian, pixel) term for autograd, so
it is for tests and small images on any machine; the device uses CUDA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

Backend = Literal["auto", "gsplat", "torch"]
TILE = 16
ALPHA_MAX = 0.999
ALPHA_MIN = 1.0 / 255.0
T_MIN = 1e-4


@dataclass
class Render:
    rgb: Tensor  # [H, W, 3]
    depth: Tensor  # [H, W] expected depth (alpha-normalised), metres
    alpha: Tensor  # [H, W] accumulated opacity
    info: dict  # what gsplat's densification strategies read (means2d, radii, width, ...)


def pick_backend(backend: Backend, device: torch.device) -> Literal["gsplat", "torch"]:
    if backend == "auto":
        return "gsplat" if device.type == "cuda" else "torch"
    if backend == "gsplat" and device.type != "cuda":
        raise ValueError("the gsplat backend needs a CUDA device")
    return backend


def render(
    params: dict[str, Tensor],  # means [N, 3], scales [N, 3] (log), quats [N, 4] (wxyz),
    # opacities [N] (logit), sh0 [N, 1, 3], shN [N, K, 3]
    viewmat: Tensor,  # [4, 4] T_camera_world
    K: Tensor,  # [3, 3]
    width: int,
    height: int,
    sh_degree: int,
    backend: Backend = "auto",
    background: Tensor | None = None,  # [3]
) -> Render:
    which = pick_backend(backend, params["means"].device)
    if which == "gsplat":
        return _render_gsplat(params, viewmat, K, width, height, sh_degree, background)
    return _render_torch(params, viewmat, K, width, height, sh_degree, background)


def _render_gsplat(params, viewmat, K, width, height, sh_degree, background) -> Render:
    from gsplat import rasterization

    colors = torch.cat([params["sh0"], params["shN"]], dim=1)  # [N, (d+1)^2, 3]
    out, alpha, info = rasterization(
        params["means"],
        params["quats"],
        torch.exp(params["scales"]),
        torch.sigmoid(params["opacities"]),
        colors,
        viewmat[None],
        K[None],
        width,
        height,
        sh_degree=sh_degree,
        render_mode="RGB+ED",
        packed=False,
        backgrounds=None if background is None else background[None],
    )
    return Render(out[0, ..., :3], out[0, ..., 3], alpha[0, ..., 0], info)


def _render_torch(params, viewmat, K, width, height, sh_degree, background) -> Render:
    from gsplat.cuda._torch_impl import (
        _fully_fused_projection,
        _quat_scale_to_covar_preci,
        _spherical_harmonics,
    )

    means = params["means"]
    quats = params["quats"] / params["quats"].norm(dim=-1, keepdim=True)
    covars, _ = _quat_scale_to_covar_preci(quats, torch.exp(params["scales"]), True, False)
    radii, means2d, depths, conics, _ = _fully_fused_projection(
        means, covars, viewmat[None], K[None], width, height
    )
    if means2d.requires_grad:
        means2d.retain_grad()  # [1, N, 2]: the densification strategy reads its gradient
    info = {
        "means2d": means2d,
        "radii": radii,
        "width": width,
        "height": height,
        "n_cameras": 1,
        "gaussian_ids": None,
    }
    radii, means2d, depths, conics = radii[0], means2d[0], depths[0], conics[0]
    campos = torch.linalg.inv(viewmat)[:3, 3]
    sh = torch.cat([params["sh0"], params["shN"]], dim=1)  # [N, (d+1)^2, 3]
    dirs = means - campos
    rgb_g = torch.clamp_min(_spherical_harmonics(sh_degree, dirs, sh) + 0.5, 0.0)  # [N, 3]
    opac = torch.sigmoid(params["opacities"])
    feats = torch.cat([rgb_g, depths[:, None]], dim=-1)  # [N, 4]: colour and depth

    image, alpha = _rasterize_tiles(means2d, conics, opac, feats, radii, depths, width, height)
    rgb, depth_sum = image[..., :3], image[..., 3]
    if background is not None:
        rgb = rgb + (1.0 - alpha[..., None]) * background
    depth = depth_sum / alpha.clamp_min(1e-10)
    return Render(rgb, depth, alpha, info)


def _rasterize_tiles(
    means2d: Tensor,  # [N, 2] pixels
    conics: Tensor,  # [N, 3] inverse 2D covariance (a, b, c)
    opac: Tensor,  # [N]
    feats: Tensor,  # [N, F]
    radii: Tensor,  # [N, 2] int, 0 = culled
    depths: Tensor,  # [N]
    width: int,
    height: int,
) -> tuple[Tensor, Tensor]:  # -> [H, W, F] alpha-weighted features, [H, W] alpha
    device = means2d.device
    tw, th = math.ceil(width / TILE), math.ceil(height / TILE)
    n_tiles = tw * th
    F = feats.shape[1]
    out = torch.zeros(th * TILE, tw * TILE, F, device=device)
    acc = torch.zeros(th * TILE, tw * TILE, device=device)
    visible = (radii > 0).all(dim=-1)
    idx = torch.nonzero(visible).squeeze(1)
    if len(idx) == 0:
        return out[:height, :width], acc[:height, :width]
    idx = idx[torch.argsort(depths[idx])]  # front to back
    m2, r = means2d[idx].detach(), radii[idx].float()
    # tiles each Gaussian's 3-sigma box touches (gsplat's rule), as a [n, n_tiles] mask
    x0 = torch.floor((m2[:, 0] - r[:, 0]) / TILE).clamp(0, tw)
    x1 = torch.ceil((m2[:, 0] + r[:, 0]) / TILE).clamp(0, tw)
    y0 = torch.floor((m2[:, 1] - r[:, 1]) / TILE).clamp(0, th)
    y1 = torch.ceil((m2[:, 1] + r[:, 1]) / TILE).clamp(0, th)
    tx = torch.arange(tw, device=device)
    ty = torch.arange(th, device=device)
    in_x = (tx[None] >= x0[:, None]) & (tx[None] < x1[:, None])  # [n, tw]
    in_y = (ty[None] >= y0[:, None]) & (ty[None] < y1[:, None])  # [n, th]
    touches = (in_y[:, :, None] & in_x[:, None, :]).reshape(len(idx), n_tiles)  # [n, T]
    counts = touches.sum(dim=0)  # [T]
    k_max = int(counts.max())
    if k_max == 0:
        return out[:height, :width], acc[:height, :width]
    # per tile, its Gaussians in depth order, padded: [T, k_max] positions into idx (-1 = none)
    order = torch.argsort((~touches).to(torch.int8), dim=0, stable=True)[:k_max].T  # [T, k]
    pad = torch.arange(k_max, device=device)[None] >= counts[:, None]
    g = idx[order]  # [T, k] Gaussian ids
    # pixel centres of each tile: [T, P, 2]
    py, px = torch.meshgrid(
        torch.arange(TILE, device=device), torch.arange(TILE, device=device), indexing="ij"
    )
    tile_y, tile_x = torch.meshgrid(ty, tx, indexing="ij")
    pix_x = (tile_x.reshape(-1, 1) * TILE + px.reshape(1, -1)).float() + 0.5  # [T, P]
    pix_y = (tile_y.reshape(-1, 1) * TILE + py.reshape(1, -1)).float() + 0.5
    mu = means2d[g]  # [T, k, 2]
    con = conics[g]  # [T, k, 3]
    dx = pix_x[:, None, :] - mu[..., 0:1]  # [T, k, P]
    dy = pix_y[:, None, :] - mu[..., 1:2]
    sigma = 0.5 * (con[..., 0:1] * dx * dx + con[..., 2:3] * dy * dy) + con[..., 1:2] * dx * dy
    alpha = torch.clamp_max(opac[g][..., None] * torch.exp(-sigma), ALPHA_MAX)  # [T, k, P]
    keep = (sigma >= 0) & (alpha >= ALPHA_MIN) & ~pad[..., None]
    alpha = torch.where(keep, alpha, torch.zeros_like(alpha))
    # transmittance before each Gaussian; a pixel stops once it would fall under T_MIN
    T_after = torch.cumprod(1.0 - alpha, dim=1)
    T_before = torch.cat([torch.ones_like(T_after[:, :1]), T_after[:, :-1]], dim=1)
    alpha = torch.where(T_after > T_MIN, alpha, torch.zeros_like(alpha))
    w = alpha * T_before  # [T, k, P]
    tile_feats = torch.einsum("tkp,tkf->tpf", w, feats[g])  # [T, P, F]
    tile_alpha = w.sum(dim=1)  # [T, P]
    out = tile_feats.reshape(th, tw, TILE, TILE, F).permute(0, 2, 1, 3, 4).reshape(th * TILE, -1, F)
    acc = tile_alpha.reshape(th, tw, TILE, TILE).permute(0, 2, 1, 3).reshape(th * TILE, -1)
    return out[:height, :width], acc[:height, :width]
