"""XsensReader on BytesIO; the emulator on a pty; the driver against the emulator."""

from __future__ import annotations

import io
import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import serial

from drivers.clock import monotonic_ns
from drivers.config import ImuConfig
from drivers.frames import ImuSample
from drivers.xsens.control import decode_output_configuration
from drivers.xsens.driver import XsensDriver
from drivers.xsens.emulator import XsensEmulator
from drivers.xsens.mtdata2 import encode_mtdata2
from drivers.xsens.reader import XsensReader
from drivers.xsens.xbus import Mid, XbusFrame, encode_frame

RATE_HZ = 200.0
PERIOD_NS = int(1e9 / RATE_HZ)
NEAR_WRAP = (1 << 32) - 30  # SampleTimeFine wraps within the first samples


def _accel(k: int) -> np.ndarray:
    return np.array([0.01 * (k % 1000), -0.5, 9.81])


def _gyro(k: int) -> np.ndarray:
    return np.array([0.1, -0.2, 0.001 * (k % 500)])


def imu_samples(n: int | None = None) -> Iterator[ImuSample]:
    """A 200 Hz IMU whose k-th sample can be recognised by its values."""
    for k in itertools.count() if n is None else range(n):
        yield ImuSample(
            t_ns=10_000_000_000 + k * PERIOD_NS, gyro_radps=_gyro(k), accel_mps2=_accel(k)
        )


def wait_for(cond: Callable[[], bool], timeout_s: float) -> float:
    """Poll until cond() holds; return the seconds it took (fail after timeout_s)."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.01)
    return time.monotonic() - t0


def take(driver: XsensDriver, n: int, timeout_s: float = 3.0) -> list[ImuSample]:
    out: list[ImuSample] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < n:
        s = driver.get(timeout_s=max(0.0, deadline - time.monotonic()))
        assert s is not None, f"only {len(out)} of {n} samples within {timeout_s} s"
        out.append(s)
    return out


def drain(driver: XsensDriver) -> None:
    while driver.get(timeout_s=0) is not None:
        pass


def index_of(sample: ImuSample) -> float:
    return round(sample.accel_mps2[0] / 0.01)


# --- the reader, on any byte stream --------------------------------------------------------


def test_reader_on_bytesio() -> None:
    messages = [
        encode_mtdata2(
            sample_time_fine=100 * k, packet_counter=k, accel_mps2=_accel(k), gyro_radps=_gyro(k)
        )
        for k in range(50)
    ]
    stream = bytearray(b"\x00\x13 noise before the first message")
    for k, payload in enumerate(messages):
        stream += encode_frame(Mid.MTDATA2, payload)
        if k % 10 == 3:
            stream += encode_frame(Mid.GOTO_CONFIG_ACK)  # not data: skipped
        if k % 10 == 5:
            stream += b"\xfa\xff\x36\x05\x01"  # a cut-off message: garbage
    stream += encode_frame(Mid.MTDATA2, bytes.fromhex("40200400000000"))  # undecodable
    reader = XsensReader(io.BytesIO(bytes(stream)), chunk_size=37)  # frames split across reads
    out = list(reader)
    assert [m.packet_counter for m in out] == list(range(50))
    for k, m in enumerate(out):
        assert m.sample_time_fine == 100 * k
        np.testing.assert_allclose(m.accel_mps2, _accel(k), rtol=1e-6)
        np.testing.assert_allclose(m.gyro_radps, _gyro(k), rtol=1e-6, atol=1e-9)
    assert reader.decode_errors == 1
    assert reader.stats().garbage_bytes > 0
    assert reader.bytes_read == len(stream)


def test_reader_frames_include_control_messages() -> None:
    raw = encode_frame(Mid.WAKEUP) + encode_frame(Mid.DEVICE_ID, b"\x03\x78\x00\x01")
    assert list(XsensReader(io.BytesIO(raw)).frames()) == [
        XbusFrame(Mid.WAKEUP),
        XbusFrame(Mid.DEVICE_ID, b"\x03\x78\x00\x01"),
    ]


# --- the emulator on its own ---------------------------------------------------------------


def test_emulator_answers_and_streams_as_fast_as_read(tmp_path: Path) -> None:
    link = tmp_path / "imu"
    with XsensEmulator(imu_samples(300), link, rate=0.0, start_ticks=NEAR_WRAP) as emu:
        assert link.is_symlink()
        with serial.Serial(str(link), 921600, timeout=0.05) as port:
            reader = XsensReader(port)
            later: list[XbusFrame] = []  # frames read along with an answer

            def request(mid: int, data: bytes = b"") -> XbusFrame:
                port.write(encode_frame(mid, data))
                deadline = time.monotonic() + 2.0
                while time.monotonic() < deadline:
                    frames = reader.read_frames() or []
                    for i, f in enumerate(frames):
                        if f.mid in (mid + 1, Mid.ERROR):
                            later.extend(frames[i + 1 :])
                            return f
                raise AssertionError(f"no answer to 0x{mid:02X}")

            assert request(Mid.GOTO_CONFIG) == XbusFrame(Mid.GOTO_CONFIG_ACK)
            assert request(Mid.REQ_DID).data == (0x03780001).to_bytes(4, "big")
            ack = request(Mid.SET_OUTPUT_CONFIGURATION, bytes.fromhex("1020ffff1060ffff40200064"))
            assert [s.xdi for s in decode_output_configuration(ack.data)] == [
                0x1020,
                0x1060,
                0x4020,
            ]
            assert request(0x77) == XbusFrame(Mid.ERROR, b"\x04")  # not implemented
            assert request(Mid.GOTO_MEASUREMENT) == XbusFrame(Mid.GOTO_MEASUREMENT_ACK)
            frames = list(later)
            deadline = time.monotonic() + 5.0
            while len(frames) < 300 and time.monotonic() < deadline:
                frames += reader.read_frames() or ()
            out = [reader.decode(f) for f in frames if f.mid == Mid.MTDATA2]
        assert emu.exhausted and emu.messages_dropped == 0
    assert not link.exists()  # stop() removes the link
    assert len(out) == 300
    assert [m.packet_counter for m in out] == list(range(300))
    ticks = [m.sample_time_fine for m in out]
    assert ticks[0] == NEAR_WRAP
    steps = np.diff(np.array(ticks, dtype=np.int64)) % (1 << 32)
    assert np.all(steps == PERIOD_NS // 100_000)  # 50 ticks of 100 us, across the wrap
    assert all(m.gyro_radps is None and m.quat_wxyz is None for m in out)  # as configured
    np.testing.assert_allclose(out[123].accel_mps2, _accel(123), rtol=1e-6)


# --- the driver against the emulator -------------------------------------------------------


@pytest.fixture()
def link(tmp_path: Path) -> Path:
    return tmp_path / "scanner-imu"


def make_driver(link: Path, timeout_s: float = 0.3) -> XsensDriver:
    return XsensDriver(ImuConfig(enabled=True, port=link, timeout_s=timeout_s), output_rate_hz=200)


def test_handshake_and_samples(link: Path) -> None:
    with (
        XsensEmulator(imu_samples(), link, rate=1.0, start_ticks=NEAR_WRAP) as emu,
        make_driver(link) as driver,
    ):
        samples = take(driver, 100)
        rx_ns = monotonic_ns()
        status = driver.status()
        mids = emu.received_mids()
        output = emu.output_configuration

    # Configuration: to config, ask the ID, set the outputs, to measurement; in that order.
    wanted = [Mid.GOTO_CONFIG, Mid.REQ_DID, Mid.SET_OUTPUT_CONFIGURATION, Mid.GOTO_MEASUREMENT]
    it = iter(mids)
    assert all(any(m == w for m in it) for w in wanted), mids
    assert output == driver.output
    assert status.connected
    assert status.device_id == 0x03780001
    assert status.samples >= 100
    assert status.gaps == 0 and status.checksum_errors == 0 and status.decode_errors == 0
    assert 150.0 < status.rate_hz < 250.0

    # SI values, in order, consecutive.
    ks = [index_of(s) for s in samples]
    assert np.all(np.diff(ks) == 1)
    for s, k in zip(samples, ks, strict=True):
        np.testing.assert_allclose(s.accel_mps2, _accel(k), rtol=1e-6)
        np.testing.assert_allclose(s.gyro_radps, _gyro(k), rtol=1e-6, atol=1e-9)
    # Host monotonic clock: recent, increasing, spaced by the device clock (across the wrap).
    t = np.array([s.t_ns for s in samples])
    assert 0 <= rx_ns - t[-1] < 200_000_000
    assert np.all(np.diff(t) > 0)
    assert np.median(np.diff(t)) == pytest.approx(PERIOD_NS, abs=200_000)
    assert abs(status.latency_ns) < 50_000_000


def test_garbage_on_the_line_is_counted_and_the_stream_goes_on(link: Path) -> None:
    with XsensEmulator(imu_samples(), link, rate=1.0) as emu, make_driver(link) as driver:
        take(driver, 20)
        before = driver.status()
        garbage = b"\x00\x11line noise\x7f" * 8  # no 0xFA in it
        corrupted = bytearray(encode_frame(Mid.MTDATA2, encode_mtdata2(packet_counter=1)))
        corrupted[5] ^= 0x01
        emu.inject_garbage(garbage)
        emu.inject_garbage(bytes(corrupted))
        drain(driver)
        after_samples = take(driver, 40)
        status = driver.status()
    assert status.garbage_bytes - before.garbage_bytes >= len(garbage) + len(corrupted)
    assert status.checksum_errors - before.checksum_errors == 1
    assert status.connected
    assert status.gaps == 0
    assert np.all(np.diff([index_of(s) for s in after_samples]) == 1)


def test_unplug_disconnects_and_replug_resumes(link: Path) -> None:
    timeout_s = 0.3
    with (
        XsensEmulator(imu_samples(), link, rate=1.0) as emu,
        make_driver(link, timeout_s) as driver,
    ):
        take(driver, 20)
        assert driver.status().connected

        emu.unplug()
        assert not link.exists()
        took_s = wait_for(lambda: not driver.status().connected, timeout_s + 1.0)
        assert took_s < timeout_s + 0.5
        time.sleep(0.6)  # it keeps trying to reopen meanwhile
        down = driver.status()
        assert not down.connected and down.rate_hz == 0.0
        assert down.last_error is not None
        drain(driver)

        emu.replug()
        wait_for(lambda: driver.status().connected, 3.0)
        resumed = take(driver, 20)
        status = driver.status()
    assert status.reconnects >= 1
    assert np.all(np.diff([index_of(s) for s in resumed]) == 1)
    assert abs(monotonic_ns() - resumed[-1].t_ns) < 500_000_000


def test_silent_device_is_disconnected_after_timeout(link: Path) -> None:
    """The port stays, the data stops (the samples run out): disconnected after timeout_s."""
    timeout_s = 0.3
    with (
        XsensEmulator(imu_samples(60), link, rate=1.0) as emu,
        make_driver(link, timeout_s) as driver,
    ):
        take(driver, 10)
        wait_for(lambda: emu.exhausted, 2.0)
        wait_for(lambda: not driver.status().connected, timeout_s + 1.0)
        assert "no data" in (driver.status().last_error or "")


def test_restart_of_the_device_is_reconfigured(link: Path) -> None:
    """A WakeUp while measuring (the MTi rebooted): the driver configures it again."""
    with XsensEmulator(imu_samples(), link, rate=1.0) as emu, make_driver(link) as driver:
        take(driver, 10)
        n_config = emu.received_mids().count(Mid.SET_OUTPUT_CONFIGURATION)
        emu.inject_garbage(encode_frame(Mid.RESET_ACK))  # harmless stray message
        emu.power_cycle()  # a power glitch: WakeUp, then measuring again
        wait_for(lambda: emu.received_mids().count(Mid.SET_OUTPUT_CONFIGURATION) > n_config, 2.0)
        drain(driver)
        take(driver, 10)
        assert emu.received_mids().count(Mid.WAKEUP_ACK) >= 1
        assert driver.status().connected
