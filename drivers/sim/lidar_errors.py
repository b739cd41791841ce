"""The Mid-360's errors beyond the ideal model: the models behind realism.LidarErrors' switches.

Pure functions over one sweep's shots, each with its source. "Datasheet" is the Livox Mid-360
specification table (livoxtech.com/mid-360/specs, user manual v1.2 "Specifications"): 905 nm;
40 m @ 10 % / 70 m @ 80 % reflectivity (@100 klx); blind zone 0.1 m; range precision (1 sigma)
<= 2 cm @ 10 m and <= 3 cm @ 0.2 m (80 % reflectivity, 25 degC); angular precision (1 sigma)
< 0.15 deg; false alarm rate (@100 klx) < 0.01 %. The table gives no beam divergence. Where no
figure exists the value is marked "assumed", with the reasoning.

Randomness comes from `derived_rng`, never from the sweep's own generator, so that with every
switch off the twin draws exactly what it drew before these models (bit-identical sweeps).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace

import numba as nb
import numpy as np
from scipy.special import erfc

from drivers.sim.scenes.scene import GLASS

# --- randomness -----------------------------------------------------------------------------


def derived_rng(rng: np.random.Generator, k0: int) -> np.random.Generator:
    """A generator for the error models, seeded from rng's current state and the sweep's first
    shot k0 without drawing from rng: the same seed gives the same errors, and the ideal draws
    are untouched."""
    state = repr(rng.bit_generator.state).encode()
    key = int.from_bytes(hashlib.blake2b(state, digest_size=16).digest(), "little")
    return np.random.default_rng([key, int(k0) & 0xFFFFFFFFFFFF])


# --- what each shot hits --------------------------------------------------------------------


@dataclass(frozen=True)
class Returns:
    """Per shot, what the beam ends on: the scene's RayHits as the error models change them."""

    range_m: np.ndarray  # [N] float64 along the beam, inf: no return
    face_id: np.ndarray  # [N] int64 scene face, -1: none (a miss, a lost shot or an actor)
    normal_world: np.ndarray  # [N, 3] unit, against the beam
    albedo: np.ndarray | None = None  # [N] reflectivity replacing the scene's where not NaN
    gain: np.ndarray | None = None  # [N] two-way transmission in front of the surface (glass)
    stop_m: np.ndarray | None = None  # [N] where a lost shot's light ended (glass), inf: not lost
    pane_m: np.ndarray | None = None  # [N] range of the first pane passed through, inf: none

    def reflectivity(self, scene_albedo: np.ndarray) -> np.ndarray:  # [N] -> [N]
        """The effective reflectivity of each return, from the scene's albedo at the hits."""
        out = scene_albedo
        if self.gain is not None:
            out = out * self.gain
        if self.albedo is not None:
            out = np.where(np.isnan(self.albedo), out, self.albedo)
        return out


# --- 1. range noise -------------------------------------------------------------------------

# Anchors, datasheet: 1 sigma 2 cm at 10 m and 3 cm at 0.2 m, both on 80 % at normal incidence.
RANGE_SIGMA_FLOOR_M = 0.01  # assumed: the timing floor a strong return keeps (clock, walk error)
RANGE_SIGMA_MAX_M = 0.2  # assumed: a return at the edge of detection, capped at 20 cm
_NEAR_R_M, _NEAR_SIGMA_M, _FAR_R_M, _FAR_SIGMA_M, _REF = 0.2, 0.03, 10.0, 0.02, 0.8


def _solve_range_noise() -> tuple[float, float]:
    """(a, b) of sigma^2 = floor^2 + a r^2 (0.8 / rho_eff) + b (0.2 / r)^2 through the anchors."""
    m = np.array([[_FAR_R_M**2, (_NEAR_R_M / _FAR_R_M) ** 2], [_NEAR_R_M**2, 1.0]])
    rhs = np.array([_FAR_SIGMA_M**2, _NEAR_SIGMA_M**2]) - RANGE_SIGMA_FLOOR_M**2
    a, b = np.linalg.solve(m, rhs)
    return float(a), float(b)


_SNR_COEF, _NEAR_COEF = _solve_range_noise()


def range_sigma_m(
    range_m: np.ndarray,  # [N] metres
    reflectivity: np.ndarray,  # [N] albedo at the hit (times any glass transmission)
    cos_incidence: np.ndarray,  # [N] |cos| of the beam's angle to the surface normal
) -> np.ndarray:  # [N] 1-sigma range noise, metres
    """The Mid-360's range noise:

        sigma^2 = s0^2 + a r^2 (0.8 / (rho cos theta)) + b (0.2 m / r)^2, capped at 0.2 m.

    The middle term is shot-noise-limited pulse timing: the timing jitter scales with
    1/sqrt(SNR) and the echo's power with rho cos(theta) / r^2 (a Lambertian target filling the
    beam), so sigma grows as r / sqrt(rho cos theta). The last term is the near-range waveform
    distortion (receiver saturation and stray light in the coaxial optics; the Mid-70 manual's
    "nearby waveform distortion" tag describes it). s0 = 1 cm is assumed; a and b are solved so
    that the datasheet's two figures hold exactly: 2.0 cm at 10 m and 3.0 cm at 0.2 m on 80 %.
    """
    r = np.maximum(range_m, 0.05)
    rho = np.maximum(reflectivity * cos_incidence, 1e-3)
    var = (
        RANGE_SIGMA_FLOOR_M**2 + _SNR_COEF * r**2 * (_REF / rho) + _NEAR_COEF * (_NEAR_R_M / r) ** 2
    )
    return np.minimum(np.sqrt(var), RANGE_SIGMA_MAX_M)


# --- directions -----------------------------------------------------------------------------


def turn_directions(
    dirs: np.ndarray,  # [N, 3] unit
    a: np.ndarray,  # [N] tangent of the turn along u (the horizontal normal to each direction)
    b: np.ndarray,  # [N] and along v = dir x u
) -> np.ndarray:  # [N, 3] unit: dir + a u + b v, normalised (turned by atan(hypot(a, b)))
    """Each direction turned a little: (a, b) are the tangents of the turn on two axes normal to
    it (u horizontal, or along y near the poles, and v = dir x u)."""
    out = np.empty((len(dirs), 3))
    _turn(
        np.ascontiguousarray(dirs, dtype=np.float64),
        np.ascontiguousarray(a, dtype=np.float64),
        np.ascontiguousarray(b, dtype=np.float64),
        out,
    )
    return out


@nb.njit(cache=True)
def _turn(dirs: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    for i in range(len(dirs)):
        dx, dy, dz = dirs[i, 0], dirs[i, 1], dirs[i, 2]
        if abs(dz) < 0.9:  # u = dir x z, or dir x x near the poles
            ux, uy, uz = dy, -dx, 0.0
        else:
            ux, uy, uz = 0.0, dz, -dy
        norm = np.sqrt(ux * ux + uy * uy + uz * uz)
        ux, uy, uz = ux / norm, uy / norm, uz / norm
        vx, vy, vz = dy * uz - dz * uy, dz * ux - dx * uz, dx * uy - dy * ux
        x = dx + a[i] * ux + b[i] * vx
        y = dy + a[i] * uy + b[i] * vy
        z = dz + a[i] * uz + b[i] * vz
        norm = np.sqrt(x * x + y * y + z * z)
        out[i, 0], out[i, 1], out[i, 2] = x / norm, y / norm, z / norm


# --- 2. angular noise -----------------------------------------------------------------------


def perturb_directions(
    dirs: np.ndarray,  # [N, 3] unit, the directions the unit reports
    sigma_deg: float,  # datasheet: angular precision < 0.15 deg (1 sigma)
    rng: np.random.Generator,
) -> np.ndarray:  # [N, 3] unit, where each beam really goes
    """The beams' true directions: each reported direction off by a 2-D Gaussian of sigma_deg
    per axis. The twin casts these and reports the range along the nominal direction, as a real
    unit does (it knows only its encoders' angle), so a point lands where the real beam hit:
    on a plane at incidence theta the point leaves the plane by r sin(theta) times the error,
    and at an edge the range comes from whichever side the true beam met."""
    e = rng.normal(0.0, np.radians(sigma_deg), (2, len(dirs)))  # [2, N] radians (= tangents
    # to 1e-6 relative at these angles)
    return turn_directions(dirs, e[0], e[1])


# --- 5. glass -------------------------------------------------------------------------------

# Float glass, n = 1.52: each face reflects ((n-1)/(n+1))^2 = 4.3 % at normal incidence (Fresnel),
# specularly: the unit sees that glint only when it faces the pane. Assumed cone: 10 deg (pane
# waviness and dirt spread the glint a few degrees beyond the beam's own divergence).
GLASS_GLINT_DEG = 10.0
GLASS_GLINT_REFLECTIVITY = 1.0  # a glint is a strong return: the intensity saturates
# Clear soda-lime glass transmits ~85-90 % in the near infrared (two 4 % Fresnel losses plus
# the iron band centred near 1000 nm); assumed 0.85 one way at 905 nm, so echoes from behind a
# pane come back with 0.85^2 = 0.72 of their power (reach and noise follow).
GLASS_TRANSMISSION = 0.85
# Assumed: a fifth of the shots through glass return nothing (low-E and solar-control coatings
# reflect much of the near infrared away; dirt scatters it; the weakened echo misses threshold)
GLASS_LOSS = 0.2
GLASS_STEP_M = 0.01  # the re-cast starts this far beyond the pane
GLASS_SAME_PANE_M = 0.1  # a glass face this close behind the last is the same pane's far side
GLASS_MAX_PANES = 4


def through_glass(
    ret: Returns,
    cast,  # (origins [M, 3], dirs [M, 3]) -> RayHits: the static scene
    surface: np.ndarray,  # [F] uint8 DIFFUSE or GLASS
    origins: np.ndarray,  # [N, 3] world
    dirs: np.ndarray,  # [N, 3] unit world, the beams
    rng: np.random.Generator,
) -> Returns:
    """Shots that meet a GLASS face: within GLASS_GLINT_DEG of normal incidence the pane itself
    returns (a glint); otherwise GLASS_LOSS of them are lost and the rest go on through, re-cast
    from GLASS_STEP_M beyond the pane (the range is the whole path), up to GLASS_MAX_PANES panes.
    """
    on = np.flatnonzero((ret.face_id >= 0) & (surface[np.maximum(ret.face_id, 0)] == GLASS))
    if not len(on):  # [G] the shots on glass
        return ret
    r, face = ret.range_m.copy(), ret.face_id.copy()
    normal = ret.normal_world.copy()
    n = len(r)
    gain, albedo, stop = np.ones(n), np.full(n, np.nan), np.full(n, np.inf)
    last_pane = np.full(n, -np.inf)  # [N] range of the last pane passed
    first_pane = np.full(n, np.inf)
    cos_glint = np.cos(np.radians(GLASS_GLINT_DEG))
    for _ in range(GLASS_MAX_PANES):
        if not len(on):
            break
        same = r[on] - last_pane[on] < GLASS_SAME_PANE_M
        cos_inc = np.abs(np.einsum("ij,ij->i", normal[on], dirs[on]))
        glint = ~same & (cos_inc >= cos_glint)
        lost = ~same & ~glint & (rng.random(len(on)) < GLASS_LOSS)
        albedo[on[glint]] = GLASS_GLINT_REFLECTIVITY
        gone = on[lost]
        stop[gone], r[gone], face[gone], normal[gone] = r[gone], np.inf, -1, 0.0
        go = ~glint & ~lost
        gain[on[go & ~same]] *= GLASS_TRANSMISSION**2
        on = on[go]
        last_pane[on] = r[on]
        first_pane[on] = np.minimum(first_pane[on], r[on])
        start = r[on] + GLASS_STEP_M
        hits = cast(origins[on] + dirs[on] * start[:, None], dirs[on])
        r[on], face[on], normal[on] = start + hits.range_m, hits.face_id, hits.normal_world
        on = on[(hits.face_id >= 0) & (surface[np.maximum(hits.face_id, 0)] == GLASS)]
    return replace(ret, range_m=r, face_id=face, normal_world=normal, albedo=albedo, gain=gain,
                   stop_m=stop, pane_m=first_pane)  # fmt: skip


# --- 7. moving things: the actors' hook -----------------------------------------------------


def nearer_actors(
    ret: Returns,
    actor_hits,  # actors.ActorHits: range_m [N] (inf: none), normal_world [N, 3], albedo [N]
) -> Returns:
    """Each shot ends on the nearer of the scene and the actors (people, doors, the operator's
    body). A shot lost in glass still returns from an actor in front of the pane; an actor seen
    through glass keeps the glass's loss of signal."""
    a_range, a_normal, a_albedo = actor_hits.range_m, actor_hits.normal_world, actor_hits.albedo
    limit = ret.range_m if ret.stop_m is None else np.minimum(ret.range_m, ret.stop_m)
    win = a_range < limit  # [N]
    if not win.any():
        return ret
    albedo = np.full(len(win), np.nan) if ret.albedo is None else ret.albedo.copy()
    albedo[win] = a_albedo[win]
    gain = None
    if ret.gain is not None:
        gain = np.where(win & ~(a_range > ret.pane_m), 1.0, ret.gain)
    stop = None if ret.stop_m is None else np.where(win, np.inf, ret.stop_m)
    return Returns(
        range_m=np.where(win, a_range, ret.range_m),
        face_id=np.where(win, -1, ret.face_id),
        normal_world=np.where(win[:, None], a_normal, ret.normal_world),
        albedo=albedo,
        gain=gain,
        stop_m=stop,
        pane_m=ret.pane_m,
    )


# --- 6. dark surfaces -----------------------------------------------------------------------

DARK_REFLECTIVITY = 0.05  # assumed: below 5 % (black rubber, paint, fabric at 905 nm) shots fade


def dark_dropout(
    reflectivity: np.ndarray,  # [N] albedo at the hit
    rng: np.random.Generator,
) -> np.ndarray:  # [N] bool: the shot is lost
    """Extra losses on very dark surfaces beyond the reach law: probability 1 - rho / 5 %, from
    0 at 5 % to all shots at 0. Assumed: the datasheet specifies reach down to 10 % only, and
    black targets leave holes in Livox scans well inside that reach (the echo is near the
    detection threshold, so a fraction of them miss it shot by shot)."""
    p = np.clip(1.0 - reflectivity / DARK_REFLECTIVITY, 0.0, 1.0)
    return rng.random(len(reflectivity)) < p


# --- 3. mixed points at depth edges ---------------------------------------------------------

MIXED_MIN_STEP_M = 0.3  # depth steps under this within a beam are just a sloped surface
CHANNELS = 4  # the Mid-360 fires four channels at once: shot k's neighbour in its line is k +- 4


def edge_candidates(
    range_m: np.ndarray,  # [N] in firing order, inf: nothing hit
    normal_world: np.ndarray,  # [N, 3] the hit surfaces' normals
    origins: np.ndarray,  # [N, 3]
    dirs: np.ndarray,  # [N, 3] unit
) -> np.ndarray:  # [N] bool
    """Shots next to a depth step: the neighbour in the same channel (k +- 4, about 1.2 deg
    away) lands more than MIXED_MIN_STEP_M off the plane of this shot's surface, and this shot
    off the neighbour's (a step, not a slope or the ground at a grazing angle). Only a beam
    near such a step can straddle it; steps against nothing (the sky) cannot mix."""
    out = np.zeros(len(range_m), dtype=np.bool_)
    _edge_candidates(
        np.ascontiguousarray(range_m, dtype=np.float64),
        np.ascontiguousarray(normal_world, dtype=np.float64),
        np.ascontiguousarray(origins, dtype=np.float64),
        np.ascontiguousarray(dirs, dtype=np.float64),
        CHANNELS,
        MIXED_MIN_STEP_M,
        out,
    )
    return out


@nb.njit(cache=True)
def _off_plane(p: int, q: int, r, normal, origins, dirs, step_m: float) -> bool:
    """Shot q's range is more than step_m off the plane of shot p's surface."""
    along, dist = 0.0, 0.0
    for j in range(3):
        point = origins[p, j] + dirs[p, j] * r[p]
        along += normal[p, j] * dirs[q, j]
        dist += normal[p, j] * (point - origins[q, j])
    if along == 0.0:
        return True
    return not abs(r[q] - dist / along) <= step_m


@nb.njit(cache=True)
def _edge_candidates(r, normal, origins, dirs, lag: int, step_m: float, out) -> None:
    for a in range(len(r) - lag):
        b = a + lag
        if not (np.isfinite(r[a]) and np.isfinite(r[b])):
            continue
        if _off_plane(a, b, r, normal, origins, dirs, step_m) and _off_plane(
            b, a, r, normal, origins, dirs, step_m
        ):
            out[a] = True
            out[b] = True


def mixed_ranges(
    r1: np.ndarray,  # [M] range of the beam's centre
    rho1: np.ndarray,  # [M] its effective reflectivity (albedo x cos incidence)
    r2: np.ndarray,  # [M] range where the beam's rim lands (inf: nothing)
    rho2: np.ndarray,  # [M] effective reflectivity there
    r2_on_plane: np.ndarray,  # [M] where the rim would land on the centre's plane
    rng: np.random.Generator,
) -> np.ndarray:  # [M] the reported range
    """A beam straddling a depth step returns one echo merged from both surfaces, timed at the
    energy-weighted range (the "mixed pixel": Hebert & Krotkov 1992, Image Vis. Comput. 10(3);
    Chaudhry et al. 2021, Remote Sens. 13(4) 615; Hesai's manuals call them interstitial
    points). The rim is at the beam's 1/e^2 radius; the edge lies at u (uniform in 0..1) of that
    radius from the centre, so a Gaussian beam puts w = Q(2u) = erfc(sqrt(2) u) / 2 of its power
    beyond it (2 % .. 50 %); each part's echo scales as w rho / r^2. The rim straddles a step
    when it lands more than MIXED_MIN_STEP_M off the centre's plane (a sloped or grazing
    surface spreads the echo but does not move its centre); a rim on nothing leaves r1."""
    straddle = np.isfinite(r2) & ~(np.abs(r2 - r2_on_plane) <= MIXED_MIN_STEP_M)
    w = 0.5 * erfc(np.sqrt(2.0) * rng.random(len(r1)))
    r2 = np.where(straddle, r2, r1)
    p2 = np.where(straddle, w * rho2 / np.maximum(r2, 0.1) ** 2, 0.0)
    p1 = (1.0 - w) * rho1 / np.maximum(r1, 0.1) ** 2
    return r1 + p2 / np.maximum(p1 + p2, 1e-30) * (r2 - r1)


def mix_edges(
    range_m: np.ndarray,  # [N] the shots' ranges in firing order (inf: no return)
    ok: np.ndarray,  # [N] bool: the shot returns
    normal_world: np.ndarray,  # [N, 3] the hit surfaces' normals
    reflectivity: np.ndarray,  # [N] effective reflectivity (albedo x cos incidence)
    origins: np.ndarray,  # [N, 3] world
    dirs: np.ndarray,  # [N, 3] unit world, the beams
    t_s: np.ndarray,  # [N] shot times
    divergence_deg: float,  # full angle at 1/e^2
    cast_rim: Callable,  # (origins [M, 3], dirs [M, 3], t_s [M]) -> (range [M], rho_eff [M])
    rng: np.random.Generator,
) -> np.ndarray:  # [N] ranges, mixed where a beam straddles a step
    """Mixed points: for the shots next to a depth step (edge_candidates), a second ray at the
    beam's rim (half the divergence off the centre, in a random direction) finds what the rest
    of the beam meets; where that is off the centre's plane, the range becomes the merged
    echo's (mixed_ranges)."""
    idx = np.flatnonzero(edge_candidates(range_m, normal_world, origins, dirs) & ok)
    if not len(idx):
        return range_m
    phi = rng.uniform(0.0, 2.0 * np.pi, len(idx))
    tan_half = np.tan(np.radians(divergence_deg) / 2)
    rim = turn_directions(dirs[idx], tan_half * np.cos(phi), tan_half * np.sin(phi))
    r2, rho2 = cast_rim(origins[idx], rim, t_s[idx])
    n = normal_world[idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        on_plane = (
            range_m[idx] * np.einsum("ij,ij->i", n, dirs[idx]) / np.einsum("ij,ij->i", n, rim)
        )
    out = range_m.copy()
    out[idx] = mixed_ranges(range_m[idx], reflectivity[idx], r2, rho2, on_plane, rng)
    return out


def scene_caster(raycaster, albedo_at, actors) -> Callable:
    """The rim rays' caster for mix_edges: (origins [M, 3], dirs [M, 3], t_s [M]) -> (range [M],
    effective reflectivity [M]) on the scene and the actors (glass as a plain surface)."""

    def cast(origins: np.ndarray, dirs: np.ndarray, t_s: np.ndarray):
        hits = raycaster.cast(origins, dirs)
        ret = Returns(hits.range_m, hits.face_id, hits.normal_world)
        if actors is not None:
            ret = nearer_actors(ret, actors.cast(origins, dirs, t_s))
        hit = np.isfinite(ret.range_m)
        face = np.where(hit & (ret.face_id >= 0), ret.face_id, 0)
        points = origins + dirs * np.where(hit, ret.range_m, 0.0)[:, None]
        rho = ret.reflectivity(albedo_at(face, points).mean(axis=1))
        return ret.range_m, rho * np.abs(np.einsum("ij,ij->i", ret.normal_world, dirs))

    return cast


# --- 4. false returns -----------------------------------------------------------------------

FALSE_RETURN_MAX_M = 30.0  # assumed: the noise that triggers early sits in the near half
FALSE_RETURN_INTENSITY = 5.0  # assumed: false alarms are weak (the Mid-70 manual flags noise
# from dust and rain by its low intensity); uniform in 0..this on Livox's 0-150 scale


def false_returns(
    hit_range_m: np.ndarray,  # [N] the shot's true range, inf where it hit nothing
    blind_zone_m: float,
    rate: float,  # datasheet: false alarm rate (@100 klx) < 0.01 %
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # shots [K] int, range [K], intensity [K]
    """rate of all shots (misses included: sky, beyond reach) trigger on noise before the true
    echo: a point at a uniform range between the blind zone and 0.8 of the true range (or
    FALSE_RETURN_MAX_M, whichever is nearer), with a low intensity. It replaces the shot's
    true return (the unit reports its first)."""
    idx = np.flatnonzero(rng.random(len(hit_range_m)) < rate)
    hit = hit_range_m[idx]
    upper = np.minimum(np.where(np.isfinite(hit), 0.8 * hit, np.inf), FALSE_RETURN_MAX_M)
    keep = upper > blind_zone_m
    idx, upper = idx[keep], upper[keep]
    r = blind_zone_m + rng.random(len(idx)) * (upper - blind_zone_m)
    return idx, r, rng.uniform(0.0, FALSE_RETURN_INTENSITY, len(idx))


def add_false_returns(
    ok: np.ndarray,  # [N] bool: the shots that return
    range_m: np.ndarray,  # [M] their ranges, M = ok.sum()
    intensity: np.ndarray,  # [M]
    hit_range_m: np.ndarray,  # [N] each shot's true range, inf where it hit nothing
    blind_zone_m: float,
    rate: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # ok [N], range [M'], intensity [M']
    """The sweep's returns with false_returns in place of the true ones."""
    idx, r_false, i_false = false_returns(hit_range_m, blind_zone_m, rate, rng)
    r_all, i_all = np.zeros(len(ok)), np.zeros(len(ok))
    r_all[ok], i_all[ok] = range_m, intensity
    r_all[idx], i_all[idx] = r_false, i_false
    ok = ok.copy()
    ok[idx] = True
    return ok, r_all[ok], i_all[ok]
