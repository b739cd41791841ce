"""The walk path as the walker follows it: a closed, corner-rounded curve with a pace along it.

The walk follows the scene's closed walk_path with its corners rounded (so a start on a corner
is up to ~0.6 m inside it), slowing down in tight turns and on stairs; a reversal (out and back
the same way) becomes a stop and a turn on the spot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

PATH_SMOOTHING_M = 0.8  # Gaussian corner rounding (arc-length sigma): a 90 deg corner ~0.7 m
PATH_STEP_M = 0.05
TURN_RATE_RADPS = 1.6  # the walker slows down in turns tighter than these allow at its pace
TURN_ACCEL_MPS2 = 2.0
BRAKE_MPS2 = 0.8  # the walker speeds up and slows down at most this hard
SLOPE_SLOWDOWN = 1.5  # pace / (1 + 1.5 |dz/ds|): ~0.55 on stairs


def starting_at(walk_path: np.ndarray, start_m: float) -> np.ndarray:  # [K, 3] -> [K', 3]
    """The same closed walk path, entered `start_m` along it (modulo its length) instead of at
    its first point: another mission over the same site, starting elsewhere."""
    pts = np.asarray(walk_path, dtype=float)
    if len(pts) > 2 and np.allclose(pts[0], pts[-1]):
        pts = pts[:-1]
    if start_m == 0.0 or len(pts) < 2:
        return pts
    ring = np.vstack([pts, pts[:1]])
    cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(ring, axis=0), axis=1))])
    s = float(start_m) % cum[-1]
    i = int(np.searchsorted(cum, s, side="right") - 1)  # on segment i .. i + 1
    f = (s - cum[i]) / max(cum[i + 1] - cum[i], 1e-12)
    entry = ring[i] + f * (ring[i + 1] - ring[i])
    return np.vstack([entry, pts[i + 1 :], pts[: i + 1]])


@dataclass(frozen=True, eq=False)
class LoopPath:
    """The walk path as a closed, corner-rounded curve, sampled uniformly in arc length, with
    the walker's pace along it: slower in tight turns (a reversal becomes a stop and turn on
    the spot) and on stairs."""

    s_m: np.ndarray  # [P + 1] arc length, 0 .. length_m
    xyz_m: np.ndarray  # [P + 1, 3] floor points, world; the last repeats the first
    yaw_rad: np.ndarray  # [P + 1] heading of the horizontal tangent, unwrapped
    pace: np.ndarray  # [P + 1] walking speed relative to the walker's pace on the flat, (0, 1]
    effort_m: np.ndarray  # [P + 1] distance at the flat pace that takes as long: int ds / pace
    winding_rad: float  # heading gained per loop (a multiple of 2 pi)

    @property
    def length_m(self) -> float:
        return float(self.s_m[-1])

    @property
    def loop_effort_m(self) -> float:
        return float(self.effort_m[-1])

    @classmethod
    def build(cls, walk_path: np.ndarray, pace_mps: float) -> LoopPath:  # [K, 3]
        pts = np.asarray(walk_path, dtype=float)
        if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) < 2:
            raise ValueError(f"walk_path must be [K >= 2, 3], got {pts.shape}")
        if len(pts) > 2 and np.allclose(pts[0], pts[-1]):
            pts = pts[:-1]  # given already closed
        xyz = np.vstack([pts, pts[:1]])
        for sigma_m in (0.0, PATH_SMOOTHING_M, 0.0):  # resample, round the corners, resample
            s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xyz, axis=0), axis=1))])
            if s[-1] < 1e-6:
                raise ValueError("walk_path has zero length")
            n = max(int(np.ceil(s[-1] / PATH_STEP_M)), 16)
            s_u = np.arange(n + 1) * (s[-1] / n)
            xyz = np.stack([np.interp(s_u, s, xyz[:, i]) for i in range(3)], axis=1)
            if sigma_m > 0:
                sigma = min(sigma_m, s_u[-1] / 10.0) / (s_u[-1] / n)
                xyz = gaussian_filter1d(xyz[:-1], sigma, axis=0, mode="wrap")
                xyz = np.vstack([xyz, xyz[:1]])
        step_m = s_u[1]
        ring = xyz[:-1]
        tangent = np.roll(ring, -1, axis=0) - np.roll(ring, 1, axis=0)
        yaw = np.unwrap(np.arctan2(tangent[:, 1], tangent[:, 0]))
        closing = np.unwrap(np.concatenate([yaw, [yaw[0]]]))  # unwrap the closing step too
        winding = 2.0 * np.pi * np.round((closing[-1] - closing[0]) / (2.0 * np.pi))
        yaw = np.concatenate([yaw, [yaw[0] + winding]])

        # pace: the speed that keeps the turn rate and the sideways acceleration bounded (a
        # reversal becomes a stop and a turn on the spot), slower on slopes, and braking and
        # speeding up at a bounded rate (v^2 changes by at most 2 a ds: a min-plus pass)
        dyaw = np.abs(np.diff(yaw))  # yaw is interpolated linearly between samples: use the
        curvature = np.maximum(dyaw[:-1], dyaw[1:]) / step_m  # steeper neighbouring step
        curvature = np.concatenate([[max(dyaw[0], dyaw[-1]) / step_m], curvature]) + 1e-9
        slope = np.abs(np.gradient(xyz[:, 2], s_u))[:-1]
        v_mps = np.minimum.reduce(
            [
                np.sqrt(TURN_ACCEL_MPS2 / curvature),
                TURN_RATE_RADPS / curvature,
                np.full(n, pace_mps),
            ]
        ) / (1.0 + SLOPE_SLOWDOWN * slope)
        v2 = np.tile(v_mps**2, 3)  # three loops, so that braking wraps round the closing point
        s3 = np.arange(3 * n) * step_m
        ramp = 2.0 * BRAKE_MPS2 * s3
        v2 = np.minimum(v2, np.minimum.accumulate(v2 - ramp) + ramp)
        v2 = np.minimum(v2, np.minimum.accumulate((v2 + ramp)[::-1])[::-1] - ramp)
        pace = np.sqrt(v2[n : 2 * n + 1]) / pace_mps
        pace = np.clip(pace, 0.005, 1.0)
        effort = np.concatenate([[0.0], np.cumsum(0.5 * (1 / pace[1:] + 1 / pace[:-1]) * step_m)])
        return cls(s_u, xyz, yaw, pace, effort, float(winding))

    def at_effort(
        self,
        effort_m: np.ndarray,  # [N] >= 0; more than a loop's worth wraps
    ) -> tuple[np.ndarray, np.ndarray]:  # [N, 3] floor point, [N] heading
        loops = np.floor(effort_m / self.loop_effort_m)
        s = np.interp(effort_m - loops * self.loop_effort_m, self.effort_m, self.s_m)
        xyz = np.stack([np.interp(s, self.s_m, self.xyz_m[:, i]) for i in range(3)], axis=1)
        return xyz, np.interp(s, self.s_m, self.yaw_rad) + loops * self.winding_rad
