"""Tests of the twin's real-world errors: profiles, IMU unit errors, step vibration, the unit's
true calibration and clocks (drivers.sim.realism, imu, motion, unit, twin, generate)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from drivers.sessions.manifest import MID360_T_LIDAR_IMU, read_manifest
from drivers.sim.camera import CameraModel
from drivers.sim.generate import MARKERS, TWIN_TRUTH, generate_session, sim_settings
from drivers.sim.imu import ICM40609, T_LIDAR_IMU_MID360, simulate_imu, unit_errors
from drivers.sim.motion import make_trajectory
from drivers.sim.realism import (
    REALISM_NAMES,
    ImuErrors,
    Realism,
    TimingErrors,
    realism_profile,
)
from drivers.sim.twin import T0_NS, SimSettings, TwinSource
from drivers.sim.unit import SimulatedUnit
from drivers.source import Sensor

LOOP = np.array([[3, 0, 0], [6, 0, 0], [6, 4, 0.0], [0, 4, 0.0], [0, 0, 0]], dtype=float)


def test_profiles():
    assert realism_profile("ideal") == Realism()
    for name in REALISM_NAMES:
        p = realism_profile(name)
        assert Realism.from_dict(p.to_dict()) == p  # what session.json records reads back
    d, h = realism_profile("datasheet"), realism_profile("harsh")
    assert d.timing.lidar_imu_offset_ms == 0.0 and 2.0 <= h.timing.lidar_imu_offset_ms <= 5.0
    assert d.imu.gyro_tempco_mdps_per_degc == 10.0 and d.imu.accel_tempco_mg_per_degc == 0.15
    assert d.lidar.operator_body and d.dynamics.people > 0
    with pytest.raises(ValueError, match="choose one of"):
        realism_profile("kind")


def test_overrides():
    p = realism_profile("datasheet").with_overrides(
        {"lidar.glass": "off", "timing.lidar_imu_offset_ms": "4.5", "dynamics.people": "0"}
    )
    assert not p.lidar.glass and p.timing.lidar_imu_offset_ms == 4.5 and p.dynamics.people == 0
    assert p.name == "datasheet+" and p.lidar.operator_body  # the rest as the profile
    with pytest.raises(ValueError, match="unknown error setting"):
        Realism().with_overrides({"lidar.rain": "on"})
    with pytest.raises(ValueError, match="on or off"):
        Realism().with_overrides({"lidar.glass": "maybe"})
    with pytest.raises(ValueError, match="a number"):
        Realism().with_overrides({"imu.warmup_tau_s": "long"})


def test_imu_warm_up_drifts_the_offsets_by_the_tempco():
    still = make_trajectory(LOOP, "static", 600.0, 0)
    errors = ImuErrors(
        gyro_tempco_mdps_per_degc=10.0,
        accel_tempco_mg_per_degc=0.15,
        warmup_rise_degc=12.0,
        warmup_tau_s=240.0,
    )
    base = simulate_imu(still, T_LIDAR_IMU_MID360, 600.0, 50.0, ICM40609, 3)
    warm = simulate_imu(still, T_LIDAR_IMU_MID360, 600.0, 50.0, ICM40609, 3, errors=errors)
    unit = unit_errors(errors, 3)
    rise = 12.0 * (1.0 - np.exp(-warm.t_s[-1] / 240.0))  # degC after 10 minutes
    drift = warm.gyro_radps[-1] - base.gyro_radps[-1]
    np.testing.assert_allclose(drift, rise * unit.gyro_tempco_radps_per_degc, atol=1e-12)
    assert np.all(np.abs(unit.gyro_tempco_radps_per_degc) <= np.deg2rad(0.010))
    assert np.abs(drift).max() > np.deg2rad(0.010)  # tens of mdps: more than the noise floor
    np.testing.assert_allclose(warm.gyro_radps[0], base.gyro_radps[0], atol=1e-12)  # cold start
    accel_drift = warm.accel_mps2[-1] - base.accel_mps2[-1]
    assert np.abs(accel_drift).max() <= rise * 0.15e-3 * 9.80665 + 1e-12
    np.testing.assert_allclose(warm.gyro_bias_radps - base.gyro_bias_radps, warm.gyro_radps -
                               base.gyro_radps, atol=1e-12)  # fmt: skip  # the truth says so


def test_imu_scale_and_cross_axis():
    walk = make_trajectory(LOOP, "walk", 20.0, 1)
    errors = ImuErrors(scale_error_pct=0.5, cross_axis_pct=2.0)
    perfect = simulate_imu(walk, T_LIDAR_IMU_MID360, 20.0, 200.0, None, 1)
    # noise None is perfect: the unit errors need the noisy path, so compare noisy with noisy
    base = simulate_imu(walk, T_LIDAR_IMU_MID360, 20.0, 200.0, ICM40609, 1)
    skewed = simulate_imu(walk, T_LIDAR_IMU_MID360, 20.0, 200.0, ICM40609, 1, errors=errors)
    M = unit_errors(errors, 1).gyro_matrix
    assert np.all(np.abs(np.diag(M) - 1.0) <= 0.005) and np.abs(M - np.diag(np.diag(M))).max() > 0
    np.testing.assert_allclose(
        skewed.gyro_radps - base.gyro_radps, perfect.gyro_radps @ (M - np.eye(3)).T, atol=1e-12
    )


def test_step_vibration_adds_the_cadence_harmonics():
    plain = make_trajectory(LOOP, "walk", 40.0, 2)
    shaken = make_trajectory(LOOP, "walk", 40.0, 2, step_vibration_mps2=1.0)
    t = np.arange(10.0, 30.0, 0.005)
    a0, a1 = plain.accel_world(t)[:, 2], shaken.accel_world(t)[:, 2]
    extra = a1 - a0
    assert 0.3 < np.abs(extra).max() < 3.0  # about the profile's 1 m/s^2 per harmonic
    spectrum = np.abs(np.fft.rfft(extra))
    f = np.fft.rfftfreq(len(extra), 0.005)
    peak_hz = f[np.argmax(spectrum)]
    assert 3.0 < peak_hz < 4.2  # the 2nd harmonic of a 1.6-2.0 Hz cadence
    assert spectrum[f > 9.0].max() < 0.05 * spectrum.max()  # nothing past the 4th
    np.testing.assert_allclose(plain.position(t), shaken.position(t), atol=3e-3)  # millimetres


def test_unit_draw_is_within_the_tolerances_and_nominal_when_off():
    T = np.array(MID360_T_LIDAR_IMU)
    nominal = SimulatedUnit.draw(TimingErrors(), 5, T, T, T)
    np.testing.assert_array_equal(nominal.T_lidar_imu, T)
    unit = SimulatedUnit.draw(
        TimingErrors(extrinsic_rot_deg=0.5, extrinsic_trans_mm=5.0), 5, T, T, T
    )
    dT = np.linalg.inv(T) @ unit.T_lidar_imu
    angle_deg = np.degrees(np.arccos(np.clip((np.trace(dT[:3, :3]) - 1) / 2, -1, 1)))
    assert 0.0 < angle_deg <= 0.5 * np.sqrt(3) + 1e-9
    assert 0.0 < np.abs(dT[:3, 3]).max() <= 0.005
    assert not np.allclose(unit.T_lidar_imu, unit.T_lidar_camera)  # each its own draw


def test_twin_stamps_the_imu_late_and_jitters_the_camera():
    timing = TimingErrors(lidar_imu_offset_ms=3.0, camera_jitter_ms=4.0)
    settings = SimSettings(
        scene="office",
        duration_s=1.0,
        camera_rate_hz=0.0,
        realism=replace(Realism(), timing=timing),
    )
    twin = TwinSource(settings)
    imu = [f.frame for f in twin.frames() if f.sensor == Sensor.imu]
    t_true_ns = T0_NS + np.round(twin.imu.t_s * 1e9).astype(np.int64)
    np.testing.assert_array_equal([s.t_ns for s in imu], t_true_ns + 3_000_000)
    cam = TwinSource(replace(settings, duration_s=30.0, camera_rate_hz=10.0))
    jitter_s = (cam.camera_stamps_ns - T0_NS) * 1e-9 - cam.camera_times_s
    assert 0.003 < np.std(jitter_s) < 0.005


@pytest.fixture(scope="module")
def datasheet_session(tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "s"
    settings = sim_settings(out, scene="office", duration_s=1.0, camera_rate_hz=0.0,
                            realism="datasheet")  # fmt: skip
    settings = replace(settings, camera=CameraModel.from_hfov(90.0, width=64, height=48))
    generate_session(out, settings)
    return out


def test_session_records_the_profile_and_only_the_nominal_calibration(datasheet_session):
    manifest = read_manifest(datasheet_session)
    recorded = Realism.from_dict(manifest.config["sim"]["realism"])
    assert recorded == realism_profile("datasheet")
    np.testing.assert_array_equal(manifest.calibration.T_lidar_imu, MID360_T_LIDAR_IMU)
    truth = json.loads((datasheet_session / TWIN_TRUTH).read_text())
    true_T = np.array(truth["unit"]["T_lidar_imu"])
    assert 0 < np.abs(true_T - np.array(MID360_T_LIDAR_IMU)).max() < 0.02
    assert truth["realism"]["name"] == "datasheet"
    assert not (datasheet_session / MARKERS).exists()  # the office has no surveyed markers
