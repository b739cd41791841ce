"""The final map: every deskewed point of every registered sweep, thinned to a chosen density,
with its intensity and time, and without isolated outliers.

Memory stays bounded on long scans: each sweep is thinned on its own, and the whole map is
thinned again whenever it has grown by a few million points (first point in a voxel wins).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drivers.frames import LidarSweep
from slam.odometry import OdometryStep
from slam.voxel_hash import voxel_keys

COMPACT_EVERY = 3_000_000  # points added between two whole-map thinnings


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
    """Collects the registered points of each step: one point per voxel, at the mean of what
    fell in it (which averages the range noise down), with the mean intensity and the time it
    was first seen."""

    def __init__(self, voxel_m: float, remove_moving: bool = False) -> None:
        self.voxel_m = voxel_m
        self.remove_moving = remove_moving  # then a subsample of each sweep's rays is kept
        self._xyz: list[np.ndarray] = []  # [Ni, 3] float64 voxel means
        self._w: list[np.ndarray] = []  # [Ni] points behind each mean
        self._intensity: list[np.ndarray] = []
        self._t: list[np.ndarray] = []
        self._pending = 0
        self._ray_origins: list[np.ndarray] = []  # [Ri, 3] for the free-space check
        self._ray_ends: list[np.ndarray] = []
        self.ray_every = 8  # every 8th point of a sweep is kept as a ray

    def rays(self) -> tuple[np.ndarray, np.ndarray]:  # -> [R, 3], [R, 3]
        if not self._ray_ends:
            return np.zeros((0, 3)), np.zeros((0, 3))
        return np.concatenate(self._ray_origins), np.concatenate(self._ray_ends)

    def add(self, step: OdometryStep, sweep: LidarSweep) -> None:
        if step.scan_world is None:
            raise ValueError("the engine must run with full_scan=True for the map products")
        idx = step.scan_index
        if self.remove_moving:
            ends = step.scan_world[:: self.ray_every].astype(np.float32)
            self._ray_ends.append(ends)
            self._ray_origins.append(np.repeat(step.T_world_lidar[None, :3, 3], len(ends), 0))
        self._xyz.append(step.scan_world.astype(np.float64))
        self._w.append(np.ones(len(idx), np.float32))
        self._intensity.append(sweep.intensity[idx].astype(np.float32))
        dt = sweep.point_dt_s[idx].astype(np.float64) if sweep.point_dt_s is not None else 0.0
        self._t.append(sweep.t_ns * 1e-9 + dt * np.ones(len(idx)))
        self._pending += len(idx)
        if self._pending > COMPACT_EVERY:
            self._compact()

    def _compact(self) -> None:
        if not self._xyz:
            return
        xyz, w = np.concatenate(self._xyz), np.concatenate(self._w).astype(np.float64)
        intensity, t = np.concatenate(self._intensity), np.concatenate(self._t)
        _, inv = np.unique(voxel_keys(xyz, self.voxel_m), return_inverse=True)
        n = int(inv.max()) + 1
        wsum = np.bincount(inv, w, n)
        mean = np.column_stack([np.bincount(inv, w * xyz[:, i], n) for i in range(3)])
        first_t = np.full(n, np.inf)
        np.minimum.at(first_t, inv, t)
        self._xyz = [mean / wsum[:, None]]
        self._w = [wsum.astype(np.float32)]
        self._intensity = [(np.bincount(inv, w * intensity, n) / wsum).astype(np.float32)]
        self._t = [first_t]
        self._pending = 0

    def finish(self, outlier_neighbors: int = 8, outlier_std: float = 2.5) -> MapCloud:
        self._compact()
        if not self._xyz:
            return MapCloud(np.zeros((0, 3)), np.zeros(0, np.float32), np.zeros(0))
        xyz, intensity, t = self._xyz[0], self._intensity[0], self._t[0]
        if self.remove_moving:
            from products.dynamic import static_mask

            ok = static_mask(xyz, *self.rays())
            xyz, intensity, t = xyz[ok], intensity[ok], t[ok]
        if outlier_neighbors and len(xyz) > outlier_neighbors + 1:
            ok = inliers(xyz, outlier_neighbors, outlier_std)
            xyz, intensity, t = xyz[ok], intensity[ok], t[ok]
        order = np.argsort(t, kind="stable")  # in the order the scanner saw them
        return MapCloud(xyz[order], intensity[order], t[order])


def inliers(xyz: np.ndarray, k: int, n_std: float) -> np.ndarray:  # [N, 3] -> [N] bool
    """Statistical outlier removal: mean distance to the k nearest neighbours against the map's
    mean plus n_std standard deviations (PCL's and open3d's rule)."""
    from scipy.spatial import cKDTree

    d, _ = cKDTree(xyz).query(xyz, k=k + 1, workers=-1)
    mean_d = d[:, 1:].mean(axis=1)
    return mean_d <= mean_d.mean() + n_std * mean_d.std()
