"""Writing maps. (The survey formats, LAS/LAZ/E57, come with the map products.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_ply(path: Path, points: np.ndarray) -> None:  # [N, 3]
    """Binary little-endian PLY with float32 x, y, z."""
    from plyfile import PlyData, PlyElement

    v = np.empty(len(points), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
    v["x"], v["y"], v["z"] = points[:, 0], points[:, 1], points[:, 2]
    PlyData([PlyElement.describe(v, "vertex")], byte_order="<").write(str(path))
