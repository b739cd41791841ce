"""The final map: every deskewed point of every registered sweep, thinned to a chosen density,
with its intensity and time, and without isolated outliers. It is made of the SLAM's submaps
(slam/submaps.py, each already thinned to this density) placed where the pose graph put them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from slam.se3 import transform
from slam.submaps import Submap, VoxelMeans


class ProductsConfig(BaseModel):
    """What post-processing makes of a session."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    map_voxel_m: float = Field(0.02, gt=0.0, le=1.0, description="map density: one point per voxel")
    outlier_neighbors: int = Field(8, ge=0, description="statistical outlier removal: k; 0 = off")
    outlier_std: float = Field(
        2.5,
        gt=0.0,
        description="drop points whose mean k-NN distance"
        " exceeds the map's mean by this many standard deviations",
    )
    formats: list[Literal["las", "laz", "e57", "ply", "pcd"]] = Field(
        ["laz", "e57", "pcd"],
        description="map files to make besides map.ply (always made: it holds every field)",
    )
    remove_moving: bool = Field(
        False, description="drop points in space the scanner also saw through (people passing)"
    )
    colour: bool = Field(True, description="colour the map from the camera, when there is one")
    epsg: int | None = Field(None, description="CRS written into LAS/LAZ (the map is local: None)")


@dataclass(frozen=True)
class MapCloud:
    """A map ready to export. Points are in the SLAM world frame (metres, z up)."""

    xyz_m: np.ndarray  # [N, 3] float64
    intensity: np.ndarray  # [N] float32, the Mid-360's reflectivity 0..255
    t_s: np.ndarray  # [N] float64, on the recording's clock
    rgb: np.ndarray | None = None  # [N, 3] uint8
    coloured: np.ndarray | None = None  # [N] bool: the camera saw the point

    def __len__(self) -> int:
        return len(self.xyz_m)


class MapBuilder:
    """The map of a scan from its submaps, each placed at its optimised anchor: one point per
    voxel, at the weighted mean of what fell in it (which averages the range noise down), with
    the mean intensity and the time it was first seen. One submap is in memory at a time, and
    the map is merged again whenever it has grown by a few million points."""

    def __init__(self, voxel_m: float, remove_moving: bool = False) -> None:
        self.voxel_m = voxel_m
        self.remove_moving = remove_moving  # then the submaps' rays are kept
        self._points = VoxelMeans(voxel_m)
        self._ray_origins: list[np.ndarray] = []  # [Ri, 3] for the free-space check
        self._ray_ends: list[np.ndarray] = []

    def rays(self) -> tuple[np.ndarray, np.ndarray]:  # -> [R, 3], [R, 3]
        if not self._ray_ends:
            return np.zeros((0, 3)), np.zeros((0, 3))
        return np.concatenate(self._ray_origins), np.concatenate(self._ray_ends)

    def add_submap(self, submap: Submap, T_world_anchor: np.ndarray) -> None:  # [4, 4]
        self._points.add(
            transform(T_world_anchor, submap.xyz_m.astype(np.float64)),
            submap.intensity,
            submap.t_s,
            submap.weight,
        )
        if self.remove_moving and len(submap.ray_ends):
            self._ray_origins.append(transform(T_world_anchor, submap.ray_origins))
            self._ray_ends.append(transform(T_world_anchor, submap.ray_ends))

    def finish(self, outlier_neighbors: int = 8, outlier_std: float = 2.5) -> MapCloud:
        xyz, _, intensity, t = self._points.result()
        if len(xyz) == 0:
            return MapCloud(np.zeros((0, 3)), np.zeros(0, np.float32), np.zeros(0))
        if self.remove_moving:
            from products.dynamic import static_mask

            ok = static_mask(xyz, *self.rays())
            xyz, intensity, t = xyz[ok], intensity[ok], t[ok]
        if outlier_neighbors and len(xyz) > outlier_neighbors + 1:
            ok = inliers(xyz, outlier_neighbors, outlier_std)
            xyz, intensity, t = xyz[ok], intensity[ok], t[ok]
        order = np.argsort(t, kind="stable")  # in the order the scanner saw them
        return MapCloud(xyz[order], intensity[order], t[order])


def map_from_submaps(
    folder: Path,
    T_world_anchor: np.ndarray,  # [K, 4, 4]
    config: ProductsConfig,
    on_progress: Callable[[float], None] | None = None,
) -> MapCloud:
    """The map of the submaps in `folder`, placed at `T_world_anchor`."""
    from slam.submaps import load_submap, submap_files

    files = submap_files(folder)
    if len(files) != len(T_world_anchor):
        raise ValueError(f"{folder}: {len(files)} submaps for {len(T_world_anchor)} anchors")
    builder = MapBuilder(config.map_voxel_m, config.remove_moving)
    for k, f in enumerate(files):
        builder.add_submap(load_submap(f), T_world_anchor[k])
        if on_progress is not None:
            on_progress((k + 1) / len(files))
    return builder.finish(config.outlier_neighbors, config.outlier_std)


def inliers(xyz: np.ndarray, k: int, n_std: float) -> np.ndarray:  # [N, 3] -> [N] bool
    """Statistical outlier removal: mean distance to the k nearest neighbours against the map's
    mean plus n_std standard deviations (PCL's and open3d's rule)."""
    from scipy.spatial import cKDTree

    d, _ = cKDTree(xyz).query(xyz, k=k + 1, workers=-1)
    mean_d = d[:, 1:].mean(axis=1)
    return mean_d <= mean_d.mean() + n_std * mean_d.std()
