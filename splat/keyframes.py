"""A session's camera keyframes for training: which frames, where the SLAM put them, the images
decoded, scaled and cropped with the map's LiDAR depth seen from each, and the blind-zone points
triangulated from them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
from torch import Tensor

from splat.camera import opencv_K, pinhole_K, sparse_depth
from splat.config import TrainConfig
from splat.triangulate import blind_zone_points

if TYPE_CHECKING:
    from drivers.frames import CameraFrame
    from drivers.sessions.manifest import CameraCalibration

log = logging.getLogger(__name__)


@dataclass
class Keyframe:
    image: Tensor  # [H, W, 3] float in [0, 1]
    viewmat: Tensor  # [4, 4] T_camera_world
    K: Tensor  # [3, 3]
    depth: Tensor  # [H, W] LiDAR depth, 0 where none
    t_s: float


def load_keyframes(
    session: Path, cfg: TrainConfig
) -> tuple[list[Keyframe], np.ndarray, np.ndarray]:  # -> keyframes, map [N, 6], blind [M, 6]
    """The session's camera keyframes with their SLAM poses, its map, and (cfg.blind_zone) the
    points triangulated where the LiDAR saw nothing."""
    cal, frames, T_world_camera, map_xyz_rgb = pick_keyframes(session, cfg)
    jpegs = [f.jpeg for f in frames]
    keyframes = make_keyframes(
        cal, jpegs, T_world_camera, map_xyz_rgb[:, :3], cfg, [f.t_s for f in frames]
    )
    blind = np.zeros((0, 6))
    if cfg.blind_zone:
        try:
            blind = blind_zone(cal, jpegs, T_world_camera, map_xyz_rgb[:, :3])
        except (cv2.error, ValueError) as exc:  # the map alone still trains a splat
            log.warning("%s: no blind-zone points: %s", session, exc)
    return keyframes, map_xyz_rgb, blind


def blind_zone(
    cal: CameraCalibration,  # pinhole, undistorted
    jpegs: list[bytes],
    T_world_camera: np.ndarray,  # [K, 4, 4]
    map_xyz: np.ndarray,  # [N, 3]
) -> np.ndarray:  # -> [M, 6] xyz, rgb
    """Points triangulated from the full-resolution keyframes where the map has none
    (splat/triangulate.py)."""
    images, poses = [], []
    for jpeg, T in zip(jpegs, T_world_camera, strict=True):
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if img is not None:
            images.append(np.ascontiguousarray(img[:, :, ::-1]))
            poses.append(T)
    return blind_zone_points(images, opencv_K(cal), np.array(poses).reshape(-1, 4, 4), map_xyz)


def pick_keyframes(
    session: Path, cfg: TrainConfig
) -> tuple[CameraCalibration, list[CameraFrame], np.ndarray, np.ndarray]:
    """Which camera frames to train on, and where the SLAM put them -> (calibration, frames,
    T_world_camera [K, 4, 4], map [N, 6] xyz and rgb)."""
    from drivers.sessions.manifest import read_manifest
    from drivers.sessions.replay import SessionSource
    from drivers.sessions.trajectory import read_tum
    from drivers.source import Sensor
    from products.colour import ColourSettings, camera_poses, select_keyframes
    from products.export import read_ply

    products = session / "products"
    cal = read_manifest(session).calibration.camera
    if cal is None:
        raise ValueError(f"{session}: no camera calibration: nothing to train a splat on")
    if cal.model != "pinhole" or any(cal.distortion):
        raise ValueError(f"{session}: only undistorted pinhole cameras are supported so far")
    t_traj, T_world_lidar = read_tum(products / "trajectory.tum")
    cloud = read_ply(products / "map.ply")
    frames = [t.frame for t in SessionSource(session, sensors=(Sensor.camera,)).frames()]
    if not frames:
        raise ValueError(f"{session}: no camera images")
    keep, T_wc = camera_poses(
        np.array([f.t_s for f in frames]), t_traj, T_world_lidar, np.array(cal.T_lidar_camera)
    )
    frames = [f for f, k in zip(frames, keep, strict=True) if k]
    chosen = select_keyframes(
        T_wc, ColourSettings(min_baseline_m=0.1, min_turn_deg=5.0, max_keyframes=cfg.max_keyframes)
    )
    colours = cloud.rgb if cloud.rgb is not None else np.full((len(cloud), 3), 128, np.uint8)
    return cal, [frames[i] for i in chosen], T_wc[chosen], np.column_stack([cloud.xyz_m, colours])


def make_keyframes(
    cal: CameraCalibration,  # pinhole, undistorted
    jpegs: list[bytes],
    T_world_camera: np.ndarray,  # [K, 4, 4]
    map_xyz: np.ndarray,  # [N, 3] for the LiDAR depth
    cfg: TrainConfig,
    t_s: list[float],  # [K] the images' times
) -> list[Keyframe]:
    """Decode, scale and crop the images, and render the map's sparse depth into each."""
    s = cfg.image_scale
    K = pinhole_K(cal, s)
    w, h = round(cal.width * s), round(cal.height * s)
    x0, y0 = 0, 0
    if cfg.crop is not None:
        x0, y0, w, h = cfg.crop
        K[0, 2] -= x0
        K[1, 2] -= y0
    keyframes = []
    for i, jpeg in enumerate(jpegs):
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            continue
        if s != 1.0:
            img = cv2.resize(img, (round(cal.width * s), round(cal.height * s)), cv2.INTER_AREA)
        img = img[y0 : y0 + h, x0 : x0 + w, ::-1]
        viewmat = np.linalg.inv(T_world_camera[i])
        pc = map_xyz @ viewmat[:3, :3].T + viewmat[:3, 3]
        depth = sparse_depth(pc, K, w, h)
        keyframes.append(
            Keyframe(
                torch.tensor(img.astype(np.float32) / 255.0),
                torch.tensor(viewmat, dtype=torch.float32),
                torch.tensor(K, dtype=torch.float32),
                torch.tensor(depth),
                t_s[i],
            )
        )
    return keyframes
