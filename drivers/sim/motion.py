"""Handheld scanner motion profiles: the ground truth every simulated sensor samples.

A profile turns the scene's walk path into a Trajectory (trajectory.py): desired poses are
sampled on a 50 Hz grid and used as the quintic B-spline's control points. The walk follows the
path (walk_path.py) at the walker's pace, with step bounce and hand shake; it does whole loops
back to the start when they fit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import BSpline
from scipy.ndimage import convolve1d

from drivers.sim.trajectory import DEGREE, Trajectory, omega_body_zyx
from drivers.sim.walk_path import LoopPath

log = logging.getLogger(__name__)

PROFILES = ("walk", "aggressive", "static")

KNOT_RATE_HZ = 50.0
STILL_S = 2.0  # every profile stands exactly still this long first
PATH_TIME_SMOOTHING_S = 0.3  # the path-following part is smoothed by a window this wide
# the desired motion starts this long after STILL_S: more than the smoothing window's half width
# plus the spline's half support (3 knots), so the still start stays exactly still
MOVE_DELAY_S = 0.25
RAMP_S = 1.5  # ease-in/ease-out of speed, bounce, shake and swings
END_STILL_S = 1.0  # the walk stops and stands still this long at the end
MIN_MOVE_S = 1.0  # a shorter moving window is not worth it: the trajectory stays still
EVAL_MARGIN_S = 0.5  # the spline is also defined this far outside [0, duration_s]

SPEED_MIN_MPS = 1.1  # seeded preferred mean walking speed range
SPEED_MAX_MPS = 1.38  # also the fastest mean speed used to fit whole loops in
SPEED_VARIATION = 0.05  # slow relative speed changes, +-5 %
SENSOR_TURN_S = 8.0  # the full 360-degree turn of the walk: peak rate 1.875 * 2 pi / 8 = 1.5 rad/s
TURN_MIN_DURATION_S = 30.0
AGGRESSIVE_OMEGA_RADPS = 2.85  # the swings are scaled so max |omega| is this
MAX_SWING_GAIN = 2.0  # keeps |pitch| < ~1.1 rad, far from the Euler singularity at pi/2


def _smoothstep(x: np.ndarray) -> np.ndarray:  # [N] -> [N]
    """Quintic 0 -> 1 ease, C2 at both ends; exactly 0 for x <= 0 and 1 for x >= 1."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (10.0 + x * (-15.0 + 6.0 * x))


def _smooth_path_in_time(
    floor_xyz: np.ndarray,  # [N, 3] sampled every h_s
    path_yaw: np.ndarray,  # [N]
    h_s: float,
) -> tuple[np.ndarray, np.ndarray]:  # [N, 3], [N]
    """Smooth with a compact bell (the quintic smoothstep's derivative) PATH_TIME_SMOOTHING_S
    wide: kinks in the path timing (braking onsets, turns) become smooth accelerations."""
    x = np.linspace(0.0, 1.0, int(round(PATH_TIME_SMOOTHING_S / h_s)) + 1)
    kernel = x * x * (1.0 - x) ** 2
    kernel /= kernel.sum()
    both = convolve1d(np.column_stack([floor_xyz, path_yaw]), kernel, axis=0, mode="nearest")
    return both[:, :3], both[:, 3]


def _envelope(t_s: np.ndarray, t_up: float, t_down: float, ramp_s: float) -> np.ndarray:  # [N]
    """0 before t_up, eases to 1 over ramp_s, back to 0 at t_down, 0 after."""
    return _smoothstep((t_s - t_up) / ramp_s) * _smoothstep((t_down - t_s) / ramp_s)


def _cumtrapz(y: np.ndarray, t_s: np.ndarray) -> np.ndarray:  # [N], [N] -> [N]
    return np.concatenate([[0.0], np.cumsum(0.5 * (y[1:] + y[:-1]) * np.diff(t_s))])


def _sines(
    t_s: np.ndarray,  # [N]
    freq_hz: np.ndarray,  # [C]
    amp: np.ndarray,  # [C]
    phase_rad: np.ndarray,  # [C]
) -> np.ndarray:  # [N]
    return np.sin(2.0 * np.pi * np.outer(t_s, freq_hz) + phase_rad) @ amp


def _hand_shake(rng: np.random.Generator, t_s: np.ndarray) -> np.ndarray:  # [N] -> [N, 3]
    """Small smooth yaw/pitch/roll wobble: 3 sines per axis, 0.5-3 Hz, amplitude ~ 1/f."""
    out = np.empty((len(t_s), 3))
    for axis in range(3):
        f = np.exp(rng.uniform(np.log(0.5), np.log(3.0), 3))
        amp = np.deg2rad(rng.uniform(0.3, 0.8, 3)) / f  # <= 1.6 deg at 0.5 Hz each
        out[:, axis] = _sines(t_s, f, amp, rng.uniform(0, 2 * np.pi, 3))
    return out


def _swings(rng: np.random.Generator, t_s: np.ndarray) -> np.ndarray:  # [N] -> [N, 3]
    """Fast yaw and pitch swings of the aggressive profile (before its gain calibration)."""
    out = np.zeros((len(t_s), 3))
    for axis, (rate, f_lo, f_hi) in enumerate([(2.4, 0.3, 0.8), (1.2, 0.35, 0.9)]):
        f = rng.uniform(f_lo, f_hi, 3)
        amp = rate * rng.dirichlet(np.ones(3)) / (2.0 * np.pi * f)  # peak rates add to `rate`
        out[:, axis] = _sines(t_s, f, amp, rng.uniform(0, 2 * np.pi, 3))
    return out


@dataclass(frozen=True)
class _SpeedPlan:
    t_down: float
    ramp_s: float
    v_mean_mps: float
    n_loops: int


def _plan_speed(
    t_s: np.ndarray,  # [N] planning grid
    unit_speed: np.ndarray,  # [N] 1 + slow variation
    t_up: float,
    t_down_max: float,
    loop_m: float,  # the loop's length in effort (distance at the flat pace)
    v_pref: float,
) -> _SpeedPlan:
    """Mean pace and stop time: whole loops back to the start when they fit in the time."""

    def ramp_for(t_down: float) -> float:
        return min(RAMP_S, 0.5 * (t_down - t_up))

    def distance_per_mps(t_down: float) -> float:
        w = _envelope(t_s, t_up, t_down, ramp_for(t_down))
        return float(_cumtrapz(unit_speed * w, t_s)[-1])

    e_max = distance_per_mps(t_down_max)
    n_max = int(np.floor(SPEED_MAX_MPS * e_max / loop_m))  # the most whole loops there is time for
    if n_max < 1:
        return _SpeedPlan(t_down_max, ramp_for(t_down_max), v_pref, 0)
    n_loops = int(np.clip(np.round(v_pref * e_max / loop_m), 1, n_max))  # nearest to v_pref
    target_m = n_loops * loop_m
    if target_m / e_max >= SPEED_MIN_MPS:
        t_down = t_down_max
    else:  # walk at the preferred speed, get back to the start early, stand there
        u_cum = _cumtrapz(np.where(t_s >= t_up, unit_speed, 0.0), t_s)
        t_down = t_down_max
        for _ in range(3):  # the ramps lose ~ramp_s of distance; refine once or twice
            need = target_m / v_pref + ramp_for(t_down)
            t_down = float(np.clip(np.interp(need, u_cum, t_s), t_up + MIN_MOVE_S, t_down_max))
    return _SpeedPlan(t_down, ramp_for(t_down), target_m / distance_per_mps(t_down), n_loops)


def make_trajectory(
    walk_path: np.ndarray,  # [K, 3] closed loop of floor points, first = start
    profile: str,
    duration_s: float,
    seed: int,
    sensor_height_m: float = 1.5,
    step_vibration_mps2: float = 0.0,
) -> Trajectory:
    """A seeded handheld trajectory along walk_path; deterministic per seed.

    Every profile stands exactly still for STILL_S first. "walk": 1.1-1.4 m/s (seeded), step
    bounce, hand shake, one full 360-degree turn when duration_s >= 30 s, stopping at the end.
    "aggressive": the same walk plus fast yaw and pitch swings, max |omega| ~2.85 rad/s.
    "static": one constant pose, at the start of the path.
    step_vibration_mps2 > 0 adds the heel strikes' harmonics of the step cadence (realism.py)."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    if not duration_s > 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    rng = np.random.default_rng([seed, 0x40710])  # a stream of its own, not the sensors'
    v_pref = rng.uniform(SPEED_MIN_MPS, SPEED_MAX_MPS)
    path = LoopPath.build(walk_path, v_pref)

    h = 1.0 / KNOT_RATE_HZ
    pad = int(np.ceil(EVAL_MARGIN_S / h)) + DEGREE + 1
    n_ctrl = int(np.ceil(duration_s / h)) + 1 + 2 * pad
    knots = (np.arange(n_ctrl + DEGREE + 1) - pad - (DEGREE + 1) / 2) * h
    t_ctrl = (np.arange(n_ctrl) - pad) * h  # the centre of each control point's basis
    t_q = np.clip(t_ctrl, 0.0, duration_s)  # outside [0, duration_s] the pose holds

    start_xyz, start_yaw = path.at_effort(np.zeros(1))
    control = np.zeros((n_ctrl, 6))
    control[:, :3] = start_xyz[0] + [0.0, 0.0, sensor_height_m]
    control[:, 3] = start_yaw[0]

    t_up = STILL_S + MOVE_DELAY_S
    t_down_max = duration_s - END_STILL_S - MOVE_DELAY_S
    if profile == "static" or t_down_max - t_up < MIN_MOVE_S:
        if profile != "static":
            log.info(
                "%.1f s is too short to move: the %s trajectory stands still", duration_s, profile
            )
        return Trajectory(duration_s, knots, control, profile)

    unit_speed = 1.0 + _sines(
        t_q,
        rng.uniform(0.02, 0.1, 2),
        SPEED_VARIATION * rng.dirichlet(np.ones(2)),
        rng.uniform(0, 2 * np.pi, 2),
    )
    plan = _plan_speed(t_q, unit_speed, t_up, t_down_max, path.loop_effort_m, v_pref)
    w = _envelope(t_q, t_up, plan.t_down, plan.ramp_s)
    # the pace on the flat; the path slows it down in tight turns and on stairs
    floor_xyz, path_yaw = path.at_effort(_cumtrapz(plan.v_mean_mps * unit_speed * w, t_q))
    floor_xyz, path_yaw = _smooth_path_in_time(floor_xyz, path_yaw, h)
    log.debug(
        "%s: %.2f m/s mean, %d loops of %.1f m, moving %.1f-%.1f s",
        profile,
        plan.v_mean_mps,
        plan.n_loops,
        path.length_m,
        t_up,
        plan.t_down,
    )

    # step bounce at the step cadence (~1.9 Hz), and a roll sway at half of it
    cadence_hz = 1.55 + 0.3 * plan.v_mean_mps * unit_speed
    step_phase = 2.0 * np.pi * _cumtrapz(cadence_hz, t_q) + rng.uniform(0, 2 * np.pi)
    bounce_m = rng.uniform(0.010, 0.014) * w * np.sin(step_phase)
    control[:, :3] = floor_xyz + [0.0, 0.0, sensor_height_m]
    control[:, 2] += bounce_m

    ypr = _hand_shake(rng, t_q) * w[:, None]
    ypr[:, 0] += path_yaw
    ypr[:, 2] += np.deg2rad(rng.uniform(0.5, 1.5)) * w * np.sin(0.5 * step_phase)
    if step_vibration_mps2 > 0:
        xyz, angles = _step_vibration(seed, step_phase, cadence_hz, step_vibration_mps2)
        control[:, :3] += xyz * w[:, None]
        ypr += angles * w[:, None]

    turn_s = None
    if profile == "walk" and duration_s >= TURN_MIN_DURATION_S:
        lo, hi = t_up + plan.ramp_s + 1.0, plan.t_down - plan.ramp_s - 1.0 - SENSOR_TURN_S
        if hi < lo:  # no room while walking: turn on the spot after stopping, if possible
            lo = hi = plan.t_down + MOVE_DELAY_S
        if hi + SENSOR_TURN_S <= duration_s - MOVE_DELAY_S:
            t_turn = rng.uniform(lo, hi)
            sign = rng.choice([-1.0, 1.0])
            ypr[:, 0] += sign * 2.0 * np.pi * _smoothstep((t_q - t_turn) / SENSOR_TURN_S)
            turn_s = (t_turn, t_turn + SENSOR_TURN_S)
        else:
            log.warning("no time for the 360-degree turn in a %.1f s walk", duration_s)
    control[:, 3:] = ypr

    if profile == "aggressive":
        swings = _swings(rng, t_q) * w[:, None]
        gain = _calibrate_swings(knots, control[:, 3:], swings, duration_s)
        control[:, 3:] += gain * swings

    cruise = (t_up + plan.ramp_s, plan.t_down - plan.ramp_s)
    return Trajectory(
        duration_s, knots, control, profile, (t_up, plan.t_down), cruise, turn_s, plan.n_loops
    )


STEP_HARMONICS = (2, 3, 4)  # up to ~8 Hz: the 50 Hz quintic spline passes 4 x 2 Hz at ~80 %
VIBRATION_LEVER_M = 0.6  # the hand's pivot (the elbow) to the scanner: angular = linear / lever


def _step_vibration(
    seed: int,
    step_phase: np.ndarray,  # [N] rad, the cadence's phase
    cadence_hz: np.ndarray,  # [N]
    peak_mps2: float,
) -> tuple[np.ndarray, np.ndarray]:  # [N, 3] xyz in the world (vertical mostly), [N, 3] ypr
    """The heel strikes' harmonics k of the step cadence, peak acceleration peak / (k - 1) each:
    vertical (full), fore-aft and sideways (a third), and pitch/roll (the linear acceleration
    over the elbow's lever). A stream of its own, so the ideal walk is unchanged."""
    rng = np.random.default_rng([seed, 0x51E9])
    xyz, ypr = np.zeros((len(step_phase), 3)), np.zeros((len(step_phase), 3))
    for k in STEP_HARMONICS:
        accel = peak_mps2 / (k - 1)
        displacement_m = accel / (2.0 * np.pi * k * cadence_hz) ** 2  # [N]
        for axis, gain in ((2, 1.0), (0, 1 / 3), (1, 1 / 3)):
            xyz[:, axis] += gain * displacement_m * np.sin(k * step_phase + rng.uniform(0, 7))
        for axis in (1, 2):  # pitch, roll
            angle = displacement_m / VIBRATION_LEVER_M
            ypr[:, axis] += angle * np.sin(k * step_phase + rng.uniform(0, 7))
    return xyz, ypr


def _calibrate_swings(
    knots_s: np.ndarray,  # [M + DEGREE + 1]
    base_ypr: np.ndarray,  # [M, 3] control points without the swings
    swings_ypr: np.ndarray,  # [M, 3] control points of the swings
    duration_s: float,
) -> float:
    """The swing gain g that makes max |omega| over the trajectory AGGRESSIVE_OMEGA_RADPS.

    The angles are linear in g (base + g swings), so the spline is evaluated once and only the
    Euler-rate -> omega map is redone while bisecting."""
    t = np.arange(STILL_S, duration_s, 0.005)
    both = BSpline(knots_s, np.hstack([base_ypr, swings_ypr]), DEGREE)
    ang, rate = both(t), both.derivative(1)(t)

    def max_omega(g: float) -> float:
        ypr = ang[:, :3] + g * ang[:, 3:]
        ypr_rate = rate[:, :3] + g * rate[:, 3:]
        return float(np.linalg.norm(omega_body_zyx(ypr, ypr_rate), axis=1).max())

    if max_omega(0.0) >= AGGRESSIVE_OMEGA_RADPS:
        return 0.0
    lo, hi = 0.0, MAX_SWING_GAIN
    if max_omega(hi) < AGGRESSIVE_OMEGA_RADPS:  # too short to line the peaks up
        log.warning("aggressive swings capped at gain %.1f (%.2f rad/s)", hi, max_omega(hi))
        return hi
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if max_omega(mid) < AGGRESSIVE_OMEGA_RADPS else (lo, mid)
    return 0.5 * (lo + hi)
