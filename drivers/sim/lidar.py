"""The twin's Mid-360: the real firing pattern, cast from the pose at each point's own time.

Directions come from a Fourier model of the Mid-360's non-repetitive pattern fitted to a real
device (data/mid360_fourier.npz, see data/NOTICE.md): four channels fire together at 200,000
points/s. Returns follow the datasheet: range noise, a 0.1 m blind zone, and a reach that
depends on reflectivity (40 m at 10 %, 70 m at 80 %), with the Lambertian cosine so grazing
returns drop out, and past 75 degrees of incidence they fade out entirely. Intensity is the
calibrated reflectivity Livox reports (0-150 for diffuse). The real unit's further errors
(range noise by range and reflectivity, angular noise, mixed points at edges, false returns,
glass, dark surfaces) and the moving things in the scene are switched by realism.LidarErrors and
modelled in lidar_errors.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drivers.frames import LidarSweep
from drivers.sim import lidar_errors as le
from drivers.sim.realism import LidarErrors

PATTERN_FILE = Path(__file__).parent / "data" / "mid360_fourier.npz"


@dataclass(frozen=True)
class Mid360Pattern:
    point_rate_hz: float
    f1_hz: float
    f2_hz: float
    m: np.ndarray  # [P] fast-rotor harmonic of each pair
    q: np.ndarray  # [P] slow-rotor harmonic of each pair
    Z: np.ndarray  # [4, P, 3] complex coefficients per channel

    @classmethod
    def load(cls, path: Path = PATTERN_FILE) -> Mid360Pattern:
        with np.load(path) as z:
            coefs, m1, m2 = z["coefs"], int(z["m1"]), int(z["m2"])
            pairs = [
                (m, q) for m in range(m1 + 1) for q in range(-m2, m2 + 1) if not (m == 0 and q < 0)
            ]
            Z = np.zeros((4, len(pairs), 3), dtype=complex)
            col = 0
            for p, (m, q) in enumerate(pairs):
                if m == 0 and q == 0:
                    Z[:, p] = coefs[:, col]
                    col += 1
                else:
                    Z[:, p] = coefs[:, col] - 1j * coefs[:, col + 1]
                    col += 2
            if col != coefs.shape[1]:
                raise ValueError(f"{path}: {coefs.shape[1]} columns for {col} expected")
            m_arr, q_arr = (np.array(a, dtype=float) for a in zip(*pairs, strict=True))
            return cls(float(z["point_rate"]), float(z["f1"]), float(z["f2"]), m_arr, q_arr, Z)

    def fire(self, k0: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Points k0 .. k0+n-1 (k0, n multiples of 4) -> (t_s [n], unit dir [n, 3], channel [n])."""
        if k0 % 4 or n % 4:
            raise ValueError("the Mid-360 fires in groups of four: k0 and n must be multiples of 4")
        g = np.arange(k0 // 4, (k0 + n) // 4)
        t_group = 4.0 * g / self.point_rate_hz  # [G]
        phase = 2j * np.pi * np.outer(t_group, self.m * self.f1_hz + self.q * self.f2_hz)
        e = np.exp(phase)  # [G, P]
        v = np.stack([(e @ self.Z[c]).real for c in range(4)], axis=1)  # [G, 4, 3]
        dirs = (v / np.linalg.norm(v, axis=-1, keepdims=True)).reshape(-1, 3)
        return np.repeat(t_group, 4), dirs, np.tile(np.arange(4, dtype=np.uint8), len(g))


@dataclass(frozen=True)
class LidarModel:
    range_noise_m: float = 0.02  # 1 sigma (datasheet: <= 2 cm at 10 m)
    blind_zone_m: float = 0.1
    reach_10pct_m: float = 40.0  # datasheet: 40 m at 10 % reflectivity
    reach_80pct_m: float = 70.0  # and 70 m at 80 %
    random_dropout: float = 0.002
    grazing_start_deg: float = 75.0  # beyond this incidence, returns fade out until 90 degrees

    def reach_m(self, reflectivity: np.ndarray) -> np.ndarray:  # [N] effective (albedo x cos)
        """Maximum range at a reflectivity: a power law through the two datasheet points."""
        gamma = np.log(self.reach_80pct_m / self.reach_10pct_m) / np.log(8.0)
        return self.reach_10pct_m * (np.maximum(reflectivity, 1e-6) / 0.1) ** gamma


NO_ERRORS = LidarErrors()  # the ideal model: every error switch off


def simulate_sweep(
    pattern: Mid360Pattern,
    model: LidarModel,
    pose_at,  # t_s [N] -> T_world_lidar [N, 4, 4] (the trajectory)
    raycaster,  # drivers.sim.scenes.raycast.Raycaster
    albedo_at,  # (face_id [N], points_world [N, 3]) -> [N, 3]
    t_start_s: float,
    duration_s: float,
    rng: np.random.Generator,
    t0_ns: int = 0,
    index: int = 0,
    errors: LidarErrors = NO_ERRORS,
    surface: np.ndarray | None = None,  # [F] the scene's DIFFUSE / GLASS kinds (for errors.glass)
    actors=None,  # .cast(origins [N, 3], dirs [N, 3], t_s [N]) -> (range [N], normal [N, 3],
    # albedo [N]): moving things and the operator's body (drivers.sim.actors)
) -> LidarSweep:
    """One sweep from t_start_s (sim time) lasting duration_s, each point from its own pose.

    The error models (lidar_errors.py) draw from their own generator, derived from rng without
    drawing from it: with every switch off the sweep is exactly the ideal model's."""
    k0 = int(round(t_start_s * pattern.point_rate_hz / 4)) * 4
    n = int(round(duration_s * pattern.point_rate_hz / 4)) * 4
    t_s, dirs, channel = pattern.fire(k0, n)
    T = pose_at(t_s)  # [n, 4, 4]
    origins = T[:, :3, 3]  # [n, 3]
    erng = le.derived_rng(rng, k0)
    beam = dirs  # [n, 3] where each beam really goes, lidar frame
    if errors.angular_noise_deg > 0:
        beam = le.perturb_directions(dirs, errors.angular_noise_deg, erng)
    dirs_world = np.einsum("nij,nj->ni", T[:, :3, :3], beam)
    hits = raycaster.cast(origins, dirs_world)
    ret = le.Returns(hits.range_m, hits.face_id, hits.normal_world)
    if errors.glass and surface is not None:
        ret = le.through_glass(ret, raycaster.cast, surface, origins, dirs_world, erng)
    if actors is not None:
        ret = le.nearer_actors(ret, actors.cast(origins, dirs_world, t_s))

    ok = np.isfinite(ret.range_m) & (ret.range_m > model.blind_zone_m)
    face = np.where(ok & (ret.face_id >= 0), ret.face_id, 0)
    points_world = origins + dirs_world * np.where(ok, ret.range_m, 0.0)[:, None]
    albedo = ret.reflectivity(albedo_at(face, points_world).mean(axis=1))  # grey reflectivity
    cos_inc = np.abs(np.einsum("ij,ij->i", ret.normal_world, dirs_world))
    ok &= ret.range_m <= model.reach_m(albedo * cos_inc)
    grazing = np.clip(
        (np.degrees(np.arccos(np.clip(cos_inc, 0.0, 1.0))) - model.grazing_start_deg)
        / (90.0 - model.grazing_start_deg),
        0.0,
        1.0,
    )
    ok &= rng.random(n) >= np.maximum(model.random_dropout, grazing)
    if errors.dark_dropout:
        ok &= ~le.dark_dropout(albedo, erng)

    range_m = ret.range_m  # [n] before noise
    if errors.beam_divergence_deg > 0:
        range_m = le.mix_edges(
            range_m, ok, ret.normal_world, albedo * cos_inc, origins, dirs_world, t_s,
            errors.beam_divergence_deg,
            le.scene_caster(raycaster, albedo_at, actors), erng,
        )  # fmt: skip
    sigma = model.range_noise_m
    if errors.range_noise_model:
        sigma = le.range_sigma_m(range_m[ok], albedo[ok], cos_inc[ok])
    r = range_m[ok] + rng.normal(0.0, sigma, ok.sum())
    intensity = np.clip(albedo[ok] * 150.0 + rng.normal(0.0, 1.0, ok.sum()), 0.0, 150.0)
    if errors.false_return_rate > 0:
        ok, r, intensity = le.add_false_returns(
            ok, r, intensity, ret.range_m, model.blind_zone_m, errors.false_return_rate, erng
        )
    t_sweep_s = k0 / pattern.point_rate_hz
    return LidarSweep(
        t_ns=t0_ns + int(round(t_sweep_s * 1e9)),
        xyz_m=dirs[ok] * r[:, None],
        intensity=intensity.astype(np.float32),
        point_dt_s=(t_s[ok] - t_sweep_s).astype(np.float32),
        index=index,
        line=channel[ok],
        tag=np.zeros(ok.sum(), dtype=np.uint8),
    )
