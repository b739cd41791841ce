"""The twin's real-world errors: what a real unit, a real operator and a real site add.

Each error source is a field here, on a switch (a zero or False turns it off), and a profile
groups them: `ideal` is the twin as it was before these models (kept for the tests and the
figures measured on it), `datasheet` sets each source from the Mid-360 / ICM-40609-D datasheets
or the cited figure beside it, `harsh` is a bad day (a hot unit, a late IMU, a careless
operator). The whole Realism is recorded in session.json (config.sim.realism), so a session
says which errors it holds; a real unit's session records only the nominal calibration, and so
does the twin's: the true, perturbed extrinsics go only into ground_truth.json beside it.

Sources: TDK DS-000330 rev 1.2 (ICM-40609-D), Livox Mid-360 user manual v1.2 / datasheet.
Assumptions (no datasheet figure exists) are marked "assumed" with the reasoning.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

REALISM_NAMES = ("ideal", "datasheet", "harsh")


@dataclass(frozen=True)
class ImuErrors:
    """The ICM-40609-D's errors beyond white noise and bias random walk (imu.py: ImuNoise)."""

    # DS-000330 table 1: gyro "ZRO variation over temperature +-10 mdps/degC"; each axis's
    # coefficient is drawn uniformly within +-this (mdps/degC), 0 = off
    gyro_tempco_mdps_per_degc: float = 0.0
    # DS-000330 table 2: accel "zero-g level change vs. temperature +-0.15 mg/degC"
    accel_tempco_mg_per_degc: float = 0.0
    # the warm-up: the unit heats by this much (degC) over its first minutes, first order with
    # time constant warmup_tau_s. Assumed: the Mid-360 draws 6.5 W in a small sealed housing;
    # Livox's own IMU reads ~15 degC above ambient after ~10 min (users' logs of imu temp).
    warmup_rise_degc: float = 0.0
    warmup_tau_s: float = 240.0
    # DS-000330: gyro "sensitivity scale factor tolerance +-0.5 %" (and accel "initial
    # tolerance +-0.5 %"); per axis, uniform within +-this (percent)
    scale_error_pct: float = 0.0
    # cross-axis sensitivity: TDK's ICM-4xxxx datasheets give +-2 % (gyro and accel); taken
    # as the ICM-40609-D's too. The axes' misalignment, uniform within +-this (percent: 1 % =
    # 10 mrad) per off-diagonal term
    cross_axis_pct: float = 0.0
    # the step vibration of a walking operator: harmonics 2.. of the 1.6-2.0 Hz cadence on the
    # device's motion (motion.py). Assumed amplitudes (heel strikes through the arm): the k-th
    # harmonic's peak acceleration step_vibration_mps2 / (k - 1)
    step_vibration_mps2: float = 0.0


@dataclass(frozen=True)
class LidarErrors:
    """The Mid-360's errors beyond the ideal model (constant range noise, dropout, grazing)."""

    # range noise as a function of range, reflectivity and incidence, anchored on the
    # datasheet's "range precision (1 sigma) <= 2 cm @ 10 m (80 % reflectivity)"; False keeps
    # the ideal constant 2 cm
    range_noise_model: bool = False
    # datasheet: "angular precision < 0.15 deg (1 sigma)"; 1-sigma noise on each direction
    angular_noise_deg: float = 0.0
    # mixed points at depth edges: a beam this wide (deg) straddling two surfaces returns a
    # point between them; 0 = off
    beam_divergence_deg: float = 0.0
    # datasheet: "false alarm rate (@100 klx) < 0.01 %": this fraction of shots return a
    # point at a random range along the beam
    false_return_rate: float = 0.0
    # glass (surface GLASS) passes most shots through (a return from behind) or loses them
    glass: bool = False
    # very dark surfaces (reflectivity under 5 %) lose shots beyond the reach law
    dark_dropout: bool = False
    # the operator's head and shoulders behind the scanner, moving with the hand
    operator_body: bool = False


@dataclass(frozen=True)
class TimingErrors:
    """Clocks and calibration: what the recorded timestamps and the nominal extrinsics hide."""

    # the IMU's timestamps run late by this much against the lidar's (ms); datasheet 0 (the
    # Mid-360 stamps both on one clock), harsh 2-5 ms (an external IMU, a USB hop)
    lidar_imu_offset_ms: float = 0.0
    # camera timestamp jitter, 1 sigma (ms). Assumed: a UVC camera stamped on host arrival
    # jitters by a few ms (USB frame scheduling)
    camera_jitter_ms: float = 0.0
    # each unit's true lidar-IMU and lidar-camera extrinsics differ from the nominal ones the
    # session records: rotation uniform within +-extrinsic_rot_deg about each axis,
    # translation within +-extrinsic_trans_mm on each axis, from the seed
    extrinsic_rot_deg: float = 0.0
    extrinsic_trans_mm: float = 0.0


@dataclass(frozen=True)
class SceneDynamics:
    """Things that move in the scene, which the products must not smear into the map."""

    people: int = 0  # pedestrians walking along the route, both ways
    doors: bool = False  # the scene's doors swing open and shut


@dataclass(frozen=True)
class Realism:
    name: str = "ideal"
    imu: ImuErrors = field(default_factory=ImuErrors)
    lidar: LidarErrors = field(default_factory=LidarErrors)
    timing: TimingErrors = field(default_factory=TimingErrors)
    dynamics: SceneDynamics = field(default_factory=SceneDynamics)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Realism:
        return cls(
            name=d.get("name", "custom"),
            imu=ImuErrors(**d.get("imu", {})),
            lidar=LidarErrors(**d.get("lidar", {})),
            timing=TimingErrors(**d.get("timing", {})),
            dynamics=SceneDynamics(**d.get("dynamics", {})),
        )

    def with_overrides(self, overrides: dict[str, str]) -> Realism:
        """{"lidar.glass": "false", "timing.lidar_imu_offset_ms": "3"} -> a copy with those set
        (the profile's name gains a '+'). Raises ValueError for an unknown key or a bad value."""
        if not overrides:
            return self
        groups = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "name"}
        for key, text in overrides.items():
            group, _, name = key.partition(".")
            if group not in groups or name not in {f.name for f in fields(groups[group])}:
                raise ValueError(f"unknown error setting {key!r}; see drivers/sim/realism.py")
            current = getattr(groups[group], name)
            groups[group] = replace(groups[group], **{name: _parse_like(current, key, text)})
        return Realism(name=self.name.rstrip("+") + "+", **groups)


def _parse_like(current: Any, key: str, text: str) -> Any:
    if isinstance(current, bool):
        if text.lower() in ("1", "true", "on", "yes"):
            return True
        if text.lower() in ("0", "false", "off", "no"):
            return False
        raise ValueError(f"{key} takes on or off, not {text!r}")
    try:
        return type(current)(text)
    except ValueError:
        raise ValueError(f"{key} takes a number, not {text!r}") from None


def realism_profile(name: str) -> Realism:
    """ideal | datasheet | harsh. Raises ValueError, naming the choices, for another name."""
    if name not in REALISM_NAMES:
        raise ValueError(f"unknown realism {name!r}; choose one of {', '.join(REALISM_NAMES)}")
    if name == "ideal":
        return Realism()
    datasheet = Realism(
        name="datasheet",
        imu=ImuErrors(
            gyro_tempco_mdps_per_degc=10.0,
            accel_tempco_mg_per_degc=0.15,
            warmup_rise_degc=12.0,
            warmup_tau_s=240.0,
            scale_error_pct=0.5,
            cross_axis_pct=2.0,
            step_vibration_mps2=1.0,
        ),
        lidar=LidarErrors(
            range_noise_model=True,
            angular_noise_deg=0.1,  # typical: two thirds of the datasheet's bound
            beam_divergence_deg=0.2,
            false_return_rate=1e-4,
            glass=True,
            dark_dropout=True,
            operator_body=True,
        ),
        timing=TimingErrors(
            lidar_imu_offset_ms=0.0,
            camera_jitter_ms=2.0,
            extrinsic_rot_deg=0.5,
            extrinsic_trans_mm=5.0,
        ),
        dynamics=SceneDynamics(people=6, doors=True),
    )
    if name == "datasheet":
        return datasheet
    return Realism(
        name="harsh",
        imu=replace(
            datasheet.imu, warmup_rise_degc=20.0, warmup_tau_s=180.0, step_vibration_mps2=2.0
        ),  # fmt: skip
        lidar=replace(datasheet.lidar, angular_noise_deg=0.15, false_return_rate=1e-3),
        timing=replace(
            datasheet.timing,
            lidar_imu_offset_ms=3.5,
            camera_jitter_ms=8.0,
            extrinsic_rot_deg=1.0,
            extrinsic_trans_mm=10.0,
        ),  # fmt: skip
        dynamics=SceneDynamics(people=15, doors=True),
    )
