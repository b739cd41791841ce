"""The splat's two products: the standard 3DGS PLY (INRIA's layout) and antimatter15's .splat.

PLY, binary little-endian, one vertex per Gaussian, every property float32, in the order the
reference implementation (graphdeco-inria/gaussian-splatting) writes and SuperSplat reads:
    x y z nx ny nz f_dc_0..2 f_rest_0..(3K-1) opacity scale_0..2 rot_0..3
f_rest is channel-major (all K red coefficients, then green, then blue); opacity is the logit,
scales the log, rot the quaternion (w, x, y, z), as the optimiser holds them.

.splat: 32 bytes per Gaussian, written by gsplat's exporter: position 3 x float32, linear scale
3 x float32, RGBA 4 x uint8 (colour from sh0, alpha = sigmoid(opacity)), rotation 4 x uint8
(q * 128 + 128, w first), sorted along a Morton curve.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from splat.gaussians import sh0_to_rgb

SPLAT_BYTES = 32


def ply_properties(n_rest_coeffs: int) -> list[str]:
    """The property names of the 3DGS PLY, in order (n_rest_coeffs = K per channel)."""
    return (
        ["x", "y", "z", "nx", "ny", "nz"]
        + [f"f_dc_{i}" for i in range(3)]
        + [f"f_rest_{i}" for i in range(3 * n_rest_coeffs)]
        + ["opacity"]
        + [f"scale_{i}" for i in range(3)]
        + [f"rot_{i}" for i in range(4)]
    )


def _numpy(params: dict[str, Tensor]) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in params.items()}


def _atomic_write(path: Path, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def ply_bytes(params: dict[str, Tensor]) -> bytes:
    p = _numpy(params)
    n, k = len(p["means"]), p["shN"].shape[1]
    names = ply_properties(k)
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {n}\n"
        + "".join(f"property float {name}\n" for name in names)
        + "end_header\n"
    ).encode("ascii")
    body = np.concatenate(
        [
            p["means"],
            np.zeros((n, 3), np.float32),  # normals: unused, kept for the layout
            p["sh0"].reshape(n, 3),
            p["shN"].transpose(0, 2, 1).reshape(n, 3 * k),  # channel-major
            p["opacities"].reshape(n, 1),
            p["scales"],
            p["quats"],
        ],
        axis=1,
    )
    return header + body.astype("<f4").tobytes()


def write_ply(path: Path, params: dict[str, Tensor]) -> None:
    _atomic_write(path, ply_bytes(params))


def read_ply(path: Path) -> dict[str, Tensor]:
    """A 3DGS PLY back into parameters (the inverse of write_ply; any SH degree)."""
    data = Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    lines = data[:end].decode("ascii").splitlines()
    if lines[0] != "ply" or "binary_little_endian" not in lines[1]:
        raise ValueError(f"{path}: not a binary little-endian PLY")
    n = next(int(x.split()[2]) for x in lines if x.startswith("element vertex"))
    names = [x.split()[2] for x in lines if x.startswith("property")]
    if any(not x.startswith("property float ") for x in lines if x.startswith("property")):
        raise ValueError(f"{path}: every property of a 3DGS PLY is a float")
    k = sum(name.startswith("f_rest_") for name in names) // 3
    if names != ply_properties(k):
        raise ValueError(f"{path}: not the 3DGS layout")
    a = np.frombuffer(data, "<f4", count=n * len(names), offset=end).reshape(n, len(names))
    col = {name: i for i, name in enumerate(names)}

    def take(first: str, count: int) -> np.ndarray:
        return np.array(a[:, col[first] : col[first] + count])

    return {
        "means": torch.from_numpy(take("x", 3)),
        "scales": torch.from_numpy(take("scale_0", 3)),
        "quats": torch.from_numpy(take("rot_0", 4)),
        "opacities": torch.from_numpy(take("opacity", 1)[:, 0]),
        "sh0": torch.from_numpy(take("f_dc_0", 3)[:, None, :]),
        "shN": torch.from_numpy(
            take("f_rest_0", 3 * k).reshape(n, 3, k).transpose(0, 2, 1).copy()
            if k
            else np.zeros((n, 0, 3), np.float32)
        ),
    }


def splat_bytes(params: dict[str, Tensor]) -> bytes:
    from gsplat.exporter import export_splats

    p = {k: v.detach().cpu().float() for k, v in params.items()}
    return export_splats(
        p["means"], p["scales"], p["quats"], p["opacities"], p["sh0"], p["shN"], format="splat"
    )


def write_splat(path: Path, params: dict[str, Tensor]) -> None:
    _atomic_write(path, splat_bytes(params))


def read_splat(path: Path) -> dict[str, np.ndarray]:
    """Decode a .splat: position [N, 3], scale [N, 3] (linear), rgba [N, 4] uint8, quat [N, 4]."""
    raw = np.frombuffer(Path(path).read_bytes(), np.uint8)
    if len(raw) % SPLAT_BYTES:
        raise ValueError(f"{path}: {len(raw)} bytes is not a whole number of 32-byte splats")
    rec = raw.reshape(-1, SPLAT_BYTES)
    return {
        "position": rec[:, 0:12].copy().view("<f4").reshape(-1, 3),
        "scale": rec[:, 12:24].copy().view("<f4").reshape(-1, 3),
        "rgba": rec[:, 24:28].copy(),
        "quat": (rec[:, 28:32].astype(np.float32) - 128.0) / 128.0,
    }


def splat_colours(params: dict[str, Tensor]) -> np.ndarray:  # -> [N, 4] uint8 RGBA
    """The RGBA a .splat stores for each Gaussian (what a viewer shows without SH)."""
    p = _numpy(params)
    rgb = sh0_to_rgb(p["sh0"].reshape(-1, 3))
    a = 1.0 / (1.0 + np.exp(-p["opacities"]))
    return (np.clip(np.column_stack([rgb, a]), 0, 1) * 255).astype(np.uint8)
