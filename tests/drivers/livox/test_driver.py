"""The Mid-360 driver against the emulator over loopback (its pure parts: test_stream.py)."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable

import numpy as np
import pytest

from drivers.frames import ImuSample, LidarSweep
from drivers.livox.command_frame import encode_command
from drivers.livox.commands import WorkMode, set_work_mode_request
from drivers.livox.driver import DriverStatus, Mid360Driver
from drivers.livox.emulator import Mid360Emulator
from drivers.livox.packet_encode import encode_point_packet
from drivers.livox.packets import TimeType
from drivers.source import Sensor

from .conftest import Endpoints
from .sources import SWEEP_PERIOD_NS, synthetic_frames


def wait_for(cond: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll until cond() holds; seconds waited."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)
    return time.monotonic() - t0


def collect(
    driver: Mid360Driver, sweeps: int, timeout_s: float = 5.0
) -> tuple[list[LidarSweep], list[ImuSample]]:
    out_s: list[LidarSweep] = []
    out_i: list[ImuSample] = []
    deadline = time.monotonic() + timeout_s
    for t in driver.frames(timeout_s=timeout_s):
        assert isinstance(t.frame, LidarSweep if t.sensor == Sensor.lidar else ImuSample)
        (out_s if t.sensor == Sensor.lidar else out_i).append(t.frame)
        if len(out_s) >= sweeps or time.monotonic() > deadline:
            break
    return out_s, out_i


# ------------------------------------------------------------------------------ loopback


@pytest.mark.parametrize("data_type", [1, 2, 3])
def test_discovery_configuration_and_streaming(endpoints: Endpoints, data_type: int) -> None:
    n_sweeps, n_points = 6, 2400
    source = list(synthetic_frames(n_sweeps, n_points))
    emu = Mid360Emulator(
        **endpoints.emulator_kwargs(
            host_ip=None,  # knows no host: only the driver's configuration makes it stream
            source=iter(source),
            work_mode=WorkMode.WAKE_UP,
            imu_enabled=False,
            data_type=1 if data_type != 1 else 3,
        )
    )
    cfg = endpoints.driver_config(point_data_type=data_type)
    with emu, Mid360Driver(cfg) as driver:
        sweeps, imus = collect(driver, sweeps=n_sweeps - 1)
        status = driver.status()
        state = emu.state()

    # configured: host endpoints, data type, IMU on, work mode normal, all ACKed
    host = endpoints.host_ip
    assert state.point_dest == (host, cfg.point_port + 1)
    assert state.imu_dest == (host, cfg.imu_port + 1)
    assert state.push_dest == (host, cfg.push_port + 1)
    assert (state.data_type, state.imu_enabled, state.work_mode) == (data_type, True, 1)
    assert status.configured and status.serial == emu.serial
    assert status.errors.total == 0 and status.drops == 0

    # sweeps: right point count, points and per-point times preserved, times monotonic
    assert len(sweeps) == n_sweeps - 1
    tol_m = {1: 0.6e-3, 2: 5.1e-3, 3: 4e-3}[data_type]  # 20 m x 0.01 deg = 3.5 mm
    for got, sent in zip(sweeps, source[:: 1 + 20], strict=False):
        assert isinstance(sent, LidarSweep)
        assert len(got) == n_points
        assert np.abs(got.xyz_m - sent.xyz_m).max() < tol_m
        np.testing.assert_allclose(got.point_dt_s, sent.point_dt_s, atol=1e-7)
        np.testing.assert_array_equal(got.intensity, sent.intensity)
        np.testing.assert_array_equal(got.tag, sent.tag)
        np.testing.assert_array_equal(got.line, np.arange(n_points) % 4)
    t = np.array([s.t_ns for s in sweeps])
    assert np.all(np.diff(t) > 0)
    np.testing.assert_allclose(np.diff(t), SWEEP_PERIOD_NS, atol=50e6)  # real-time pacing
    assert abs(t[-1] - time.monotonic_ns()) < 2e9  # host clock, not the lidar's
    assert status.time_type == 0 and status.clock_offset_ns is not None
    lidar_minus_source = emu.lidar_time_offset_ns
    assert lidar_minus_source is not None and abs(status.clock_offset_ns) > 1e9

    # IMU: SI units, at rest
    assert len(imus) >= 50
    acc = np.array([s.accel_mps2 for s in imus])
    np.testing.assert_allclose(acc, [[0.0, 0.0, 9.80665]] * len(imus), atol=1e-5)
    np.testing.assert_allclose(imus[0].gyro_radps, [0.001, -0.002, 0.003], rtol=1e-6)
    assert np.all(np.diff([s.t_ns for s in imus]) > 0)


def test_bad_packets_are_counted_and_the_stream_goes_on(endpoints: Endpoints) -> None:
    emu = Mid360Emulator(**endpoints.emulator_kwargs(source=synthetic_frames(None, 960)))
    cfg = endpoints.driver_config()
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind((endpoints.lidar_ip, 0))  # right ip, wrong port
    good = encode_point_packet(np.ones((96, 3)), timestamp_ns=1, time_interval_100ns=0, udp_cnt=0)
    with emu, Mid360Driver(cfg) as driver, stranger:
        collect(driver, sweeps=2)
        emu.send_raw("point", good[:100])  # truncated
        emu.send_raw("point", good[:10] + b"\x07" + good[11:])  # unknown data type
        emu.send_raw("point", good + bytes(400))  # oversized
        emu.send_raw("imu", good)  # points on the IMU port
        bad_crc = bytearray(encode_command(set_work_mode_request(1)))
        bad_crc[-1] ^= 0xFF
        emu.send_raw("push", bytes(bad_crc))
        stranger.sendto(good, (endpoints.host_ip, cfg.point_port + 1))
        before = driver.status().sweeps
        wait_for(lambda: driver.status().sweeps >= before + 3, 3.0, "sweeps after injection")
        errors = driver.status().errors
    assert errors.truncated == 1
    assert errors.unknown_data_type == 1
    assert errors.oversized == 1
    assert errors.bad_frame == 1
    assert errors.crc == 1
    assert errors.unexpected_address == 1
    assert errors.nack == 0 and errors.command_timeout == 0


def test_udp_cnt_gaps_are_drops(endpoints: Endpoints) -> None:
    emu = Mid360Emulator(**endpoints.emulator_kwargs(source=synthetic_frames(None, 960)))
    with emu, Mid360Driver(endpoints.driver_config()) as driver:
        collect(driver, sweeps=1)
        emu.skip_udp_cnt(5, "point")
        emu.skip_udp_cnt(3, "imu")
        wait_for(lambda: driver.status().drops == 8, 2.0, "drops")
        s = driver.status()
    assert (s.point_drops, s.imu_drops) == (5, 3)


def test_unplug_disconnects_and_replug_resumes(endpoints: Endpoints) -> None:
    emu = Mid360Emulator(**endpoints.emulator_kwargs(source=synthetic_frames(None, 960)))
    cfg = endpoints.driver_config(timeout_s=0.5)
    with emu, Mid360Driver(cfg) as driver:
        collect(driver, sweeps=2)
        assert driver.status().connected
        emu.unplug()
        waited = wait_for(lambda: not driver.status().connected, 3.0, "disconnect")
        assert 0.3 < waited < cfg.timeout_s + 1.0
        s: DriverStatus = driver.status()
        assert not s.configured and s.last_data_age_s is not None and s.last_data_age_s >= 0.5
        for _ in driver.frames(timeout_s=0.05):  # drain what came before the unplug
            pass
        emu.replug()
        wait_for(lambda: driver.status().connected, 3.0, "reconnect")
        before = driver.status().sweeps
        sweeps, _ = collect(driver, sweeps=2)
        wait_for(lambda: driver.status().configured, 3.0, "reconfiguration")
        s = driver.status()
    assert len(sweeps) == 2 and s.sweeps >= before + 2
    lost = emu.counters().lost_unplugged
    assert lost > 0 and s.drops == lost  # what fell into the pulled cable
    assert s.point_rate_hz > 0 and s.imu_rate_hz > 0


def test_rediscovers_a_rebooted_lidar(endpoints: Endpoints) -> None:
    """A lidar that comes back having forgotten its host is found and configured again."""
    cfg = endpoints.driver_config(timeout_s=0.3)
    kwargs = endpoints.emulator_kwargs(host_ip=None, source=synthetic_frames(None, 960))
    with Mid360Driver(cfg) as driver:
        with Mid360Emulator(**kwargs):
            collect(driver, sweeps=1)
        wait_for(lambda: not driver.status().connected, 2.0, "disconnect")
        for _ in driver.frames(timeout_s=0.05):  # what came before the reboot
            pass
        kwargs["source"] = synthetic_frames(None, 960, t0_ns=1_000_000)
        with Mid360Emulator(**kwargs) as emu2:
            sweeps, _ = collect(driver, sweeps=2)
            assert emu2.state().point_dest == (endpoints.host_ip, cfg.point_port + 1)
    assert len(sweeps) == 2 and all(len(s) == 960 for s in sweeps)


def test_synchronised_time_keeps_its_epoch(endpoints: Endpoints) -> None:
    t0 = 1_700_000_000 * 10**9  # PTP time, ns since 1970
    source = synthetic_frames(None, 960, t0_ns=t0)
    emu = Mid360Emulator(**endpoints.emulator_kwargs(source=source, time_type=TimeType.PTP))
    with emu, Mid360Driver(endpoints.driver_config()) as driver:
        sweeps, imus = collect(driver, sweeps=3)
        s = driver.status()
    assert [w.t_ns for w in sweeps] == [t0 + k * SWEEP_PERIOD_NS for k in range(3)]
    assert all((i.t_ns - t0) % 5_000_000 == 0 for i in imus)
    assert s.time_type == TimeType.PTP
    assert s.clock_offset_ns is not None  # still reported: host monotonic - PTP time
    assert abs(s.clock_offset_ns - (time.monotonic_ns() - t0)) < 2 * 10**9


def test_as_fast_as_possible(endpoints: Endpoints) -> None:
    """rate=inf: the whole source in one burst; batches of many packets, nothing lost.

    The last sweep is handed out when the stream stops (disconnect after timeout_s).
    """
    n_sweeps = 12
    emu = Mid360Emulator(
        **endpoints.emulator_kwargs(
            host_ip=None, source=synthetic_frames(n_sweeps, 4800), rate=math.inf
        )
    )
    with emu, Mid360Driver(endpoints.driver_config(timeout_s=0.3)) as driver:
        assert emu.wait_finished(timeout=5.0)
        frames = list(driver.frames(timeout_s=2.0))
        s = driver.status()
    sweeps = [t.frame for t in frames if t.sensor == Sensor.lidar]
    imus = [t.frame for t in frames if t.sensor == Sensor.imu]
    assert [len(w) for w in sweeps] == [4800] * n_sweeps
    assert len(imus) == n_sweeps * 20
    assert s.drops == 0 and s.errors.total == 0 and s.frames_dropped == 0
    assert not s.connected
    # (host times are not checked: a lidar clock that outruns the host's cannot map onto it)
    for w in sweeps:
        np.testing.assert_allclose(w.point_dt_s[-1], 4799 * (SWEEP_PERIOD_NS // 4800) * 1e-9)
