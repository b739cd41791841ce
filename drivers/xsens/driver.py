"""The Xsens MTi on a serial port: the live driver with reconnection.

`XsensDriver` owns the port (pyserial) and reads it through an `XsensReader`
(`drivers.xsens.reader`). On start, and again after every reconnection or device restart, it
puts the MTi in config state, sets the output configuration (PacketCounter, SampleTimeFine,
Quaternion, Acceleration, RateOfTurn), and goes to measurement. A thread reads the port and turns
each MTData2 into an `ImuSample` whose time is the sample's SampleTimeFine mapped onto the host
monotonic clock (drivers/clock.py); lost messages are counted by a `GapDetector`
(`drivers.xsens.gaps`). When the port goes away (SerialException/OSError) or is silent for
`timeout_s`, the driver reports itself disconnected and tries to reopen the port every
`reopen_interval_s` until the device is back.

The module is one job a little over 400 lines, the driver thread's sessions, and is kept whole.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
import serial

from drivers.clock import ClockSync, DeviceTickClock, monotonic_ns
from drivers.config import ImuConfig
from drivers.frames import ImuSample
from drivers.source import Sensor, SensorHealth, Tagged
from drivers.xsens.control import (
    RATE_EVERY_PACKET,
    OutputSetting,
    decode_device_id,
    decode_output_configuration,
    describe_error,
    encode_output_configuration,
)
from drivers.xsens.gaps import GapDetector
from drivers.xsens.mtdata2 import SAMPLE_TIME_FINE_MODULUS, SAMPLE_TIME_FINE_NS, MtData2, Xdi
from drivers.xsens.reader import XsensReader
from drivers.xsens.xbus import FinderStats, Mid, XbusError, XbusFrame, encode_frame

log = logging.getLogger(__name__)

_SERIAL_ERRORS = (serial.SerialException, OSError)


@dataclass(frozen=True, slots=True)
class XsensStatus:
    connected: bool  # configured, and MTData2 arriving (within timeout_s)
    samples: int  # ImuSamples produced since start
    rate_hz: float  # over the last second
    garbage_bytes: int  # bytes the frame finder threw away
    checksum_errors: int
    decode_errors: int  # MTData2 that did not decode, or held non-finite values
    gaps: int  # PacketCounter (or SampleTimeFine) jumps: messages lost
    dropped: int  # samples dropped because the consumer did not keep up
    reconnects: int  # measurement sessions started after the first
    device_errors: int  # Error (0x42) messages from the MTi
    clock_offset_ns: int  # host ≈ SampleTimeFine time + offset
    clock_drift_ppm: float
    latency_ns: int  # median transport delay above the minimum one
    device_id: int | None
    last_error: str | None


class XsensDeviceError(RuntimeError):
    """The MTi answered a request with an Error message."""


class _LinkLostError(RuntimeError):
    """No answer, or no data for timeout_s: reopen the port."""


class _RestartedError(RuntimeError):
    """The MTi sent WakeUp: it restarted and must be configured again."""


def default_output(rate_hz: int) -> tuple[OutputSetting, ...]:
    """What the driver asks for: time and counter in every message, the rest at rate_hz."""
    return (
        OutputSetting(Xdi.PACKET_COUNTER, RATE_EVERY_PACKET),
        OutputSetting(Xdi.SAMPLE_TIME_FINE, RATE_EVERY_PACKET),
        OutputSetting(Xdi.QUATERNION, rate_hz),
        OutputSetting(Xdi.ACCELERATION, rate_hz),
        OutputSetting(Xdi.RATE_OF_TURN, rate_hz),
    )


class XsensDriver:
    """The MTi on `config.port`: configure, read on a thread, reconnect on its own.

    Samples go to a bounded queue (the oldest is dropped when it is full): take them with
    `frames()` or `get()`. `status()` is cheap and thread-safe.
    """

    def __init__(
        self,
        config: ImuConfig,
        *,
        output_rate_hz: int = 400,
        reopen_interval_s: float = 0.5,
        read_timeout_s: float = 0.05,
        request_attempts: int = 3,
        queue_size: int = 4096,
        serial_factory: Callable[..., Any] = serial.Serial,
        clock_sync: Callable[[], ClockSync] = ClockSync,
    ) -> None:
        self.config = config
        self.output = default_output(output_rate_hz)
        self.reopen_interval_s = reopen_interval_s
        self.read_timeout_s = min(read_timeout_s, config.timeout_s)
        self.request_attempts = request_attempts
        self.queue: queue.Queue[ImuSample] = queue.Queue(maxsize=queue_size)
        self._serial_factory = serial_factory
        self._clock = DeviceTickClock(SAMPLE_TIME_FINE_NS, SAMPLE_TIME_FINE_MODULUS, clock_sync())
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._port: Any = None
        self._reader: XsensReader | None = None
        self._leftover: list[XbusFrame] = []
        # Counters (under _lock). The finder's are summed over the sessions.
        self._connected = False
        self._sessions = 0
        self._samples = 0
        self._gaps = 0
        self._dropped = 0
        self._device_errors = 0
        self._bad_values = 0
        self._closed_stats = FinderStats(0, 0, 0, 0, 0)
        self._closed_decode_errors = 0
        self._device_id: int | None = None
        self._last_error: str | None = None
        self._rx_times: deque[int] = deque(maxlen=8192)
        self._gap_detector = GapDetector()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> XsensDriver:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="xsens-driver", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0 + self.config.timeout_s)
            if self._thread.is_alive():
                log.warning("xsens driver thread did not stop")
            self._thread = None

    def __enter__(self) -> XsensDriver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- consuming --------------------------------------------------------------------------

    def get(self, timeout_s: float | None = None) -> ImuSample | None:
        """The next sample, or None after timeout_s."""
        try:
            return self.queue.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def frames(self, timeout_s: float | None = None) -> Iterator[Tagged]:
        """Samples (Sensor.external_imu) as they come, until stop() (or nothing for timeout_s,
        when given)."""
        while True:
            try:
                sample = self.queue.get(timeout=0.1 if timeout_s is None else timeout_s)
            except queue.Empty:
                if timeout_s is not None or self._stop.is_set():
                    return
                continue
            yield Tagged(Sensor.external_imu, sample)

    def close(self) -> None:
        self.stop()

    def health(self) -> dict[Sensor, SensorHealth]:
        st = self.status()
        return {
            Sensor.external_imu: SensorHealth(
                st.connected,
                st.rate_hz,
                st.gaps + st.dropped,
                st.checksum_errors + st.decode_errors + st.device_errors,
                st.samples,
            )
        }

    def status(self) -> XsensStatus:
        now = monotonic_ns()
        with self._lock:
            stats = self._closed_stats
            decode_errors = self._closed_decode_errors + self._bad_values
            if self._reader is not None:
                s = self._reader.stats()
                stats = FinderStats(
                    stats.frames + s.frames,
                    stats.garbage_bytes + s.garbage_bytes,
                    stats.checksum_errors + s.checksum_errors,
                    stats.length_errors + s.length_errors,
                    s.pending_bytes,
                )
                decode_errors += self._reader.decode_errors
            recent = [t for t in self._rx_times if now - t < 1_000_000_000]
            rate_hz = 0.0
            if self._connected and len(recent) >= 2 and recent[-1] > recent[0]:
                rate_hz = (len(recent) - 1) * 1e9 / (recent[-1] - recent[0])
            est = self._clock.sync.estimate()
            return XsensStatus(
                connected=self._connected,
                samples=self._samples,
                rate_hz=rate_hz,
                garbage_bytes=stats.garbage_bytes,
                checksum_errors=stats.checksum_errors,
                decode_errors=decode_errors,
                gaps=self._gaps,
                dropped=self._dropped,
                reconnects=max(0, self._sessions - 1),
                device_errors=self._device_errors,
                clock_offset_ns=est.offset_ns,
                clock_drift_ppm=est.drift_ppm,
                latency_ns=est.latency_ns,
                device_id=self._device_id,
                last_error=self._last_error,
            )

    # -- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        port_name = str(self.config.port)
        reported: str | None = None
        while not self._stop.is_set():
            try:
                port = self._serial_factory(
                    port_name,
                    self.config.baudrate,
                    timeout=self.read_timeout_s,
                    write_timeout=self.config.timeout_s,
                )
            except (*_SERIAL_ERRORS, ValueError) as e:
                message = f"cannot open {port_name}: {e}"
                if message != reported:  # once per distinct reason, not every 0.5 s
                    log.warning("%s; retrying every %.1f s", message, self.reopen_interval_s)
                    reported = message
                self._set_error(message)
                self._stop.wait(self.reopen_interval_s)
                continue
            reported = None
            try:
                self._session(port)
            except (*_SERIAL_ERRORS, _LinkLostError, XsensDeviceError) as e:
                log.warning("xsens on %s: %s; reconnecting", port_name, e)
                self._set_error(str(e))
            except Exception as e:  # keep the thread alive whatever happens
                log.exception("xsens driver session failed")
                self._set_error(repr(e))
            finally:
                self._end_session(port)
            self._stop.wait(self.reopen_interval_s)

    def _set_error(self, message: str) -> None:
        with self._lock:
            self._last_error = message

    def _end_session(self, port: Any) -> None:
        with contextlib.suppress(_SERIAL_ERRORS):
            port.close()
        with self._lock:
            self._connected = False
            if self._reader is not None:
                s, c = self._reader.stats(), self._closed_stats
                self._closed_stats = FinderStats(
                    c.frames + s.frames,
                    c.garbage_bytes + s.garbage_bytes,
                    c.checksum_errors + s.checksum_errors,
                    c.length_errors + s.length_errors,
                    0,
                )
                self._closed_decode_errors += self._reader.decode_errors
                self._reader = None

    def _session(self, port: Any) -> None:
        reader = XsensReader(port)
        self._leftover = []
        with self._lock:
            self._reader = reader
        while not self._stop.is_set():
            self._configure(port, reader)
            try:
                self._measure(reader)
                return
            except _RestartedError:
                log.warning("the MTi restarted (WakeUp): configuring it again")
                self._write(port, Mid.WAKEUP_ACK)
                with self._lock:
                    self._connected = False

    def _write(self, port: Any, mid: int, data: bytes = b"") -> None:
        port.write(encode_frame(mid, data))

    def _read(self, reader: XsensReader) -> list[XbusFrame] | None:
        """Frames left over from the read that brought an acknowledgement, else a new read."""
        if self._leftover:
            frames, self._leftover = self._leftover, []
            return frames
        return reader.read_frames()

    def _request(
        self, port: Any, reader: XsensReader, mid: int, ack: int, data: bytes = b""
    ) -> XbusFrame:
        """Send a message and wait for its acknowledgement (MTData2 still streaming is skipped)."""
        for _attempt in range(self.request_attempts):
            self._write(port, mid, data)
            deadline = monotonic_ns() + int(self.config.timeout_s * 1e9)
            while monotonic_ns() < deadline and not self._stop.is_set():
                frames = self._read(reader) or []
                for i, frame in enumerate(frames):
                    if frame.mid == ack:
                        self._leftover = frames[i + 1 :]  # the first MTData2 may follow
                        return frame
                    if frame.mid == Mid.ERROR:
                        with self._lock:
                            self._device_errors += 1
                        raise XsensDeviceError(
                            f"{Mid(mid).name} answered with {describe_error(frame.data)}"
                        )
                    if frame.mid == Mid.WAKEUP:  # just powered up: keep it in config state
                        self._write(port, Mid.WAKEUP_ACK)
            if self._stop.is_set():
                break
        raise _LinkLostError(f"no {Mid(ack).name} to {Mid(mid).name}")

    def _configure(self, port: Any, reader: XsensReader) -> None:
        self._request(port, reader, Mid.GOTO_CONFIG, Mid.GOTO_CONFIG_ACK)
        did = self._request(port, reader, Mid.REQ_DID, Mid.DEVICE_ID)
        try:
            device_id = decode_device_id(did.data)
        except XbusError as e:
            raise _LinkLostError(f"bad DeviceID: {e}") from e
        ack = self._request(
            port,
            reader,
            Mid.SET_OUTPUT_CONFIGURATION,
            Mid.OUTPUT_CONFIGURATION,
            encode_output_configuration(self.output),
        )
        try:
            applied = decode_output_configuration(ack.data)
        except XbusError as e:
            raise _LinkLostError(f"bad output configuration acknowledgement: {e}") from e
        missing = {s.xdi for s in self.output} - {s.xdi for s in applied}
        if missing:
            log.warning("the MTi left out %s", ", ".join(f"0x{x:04X}" for x in sorted(missing)))
        self._request(port, reader, Mid.GOTO_MEASUREMENT, Mid.GOTO_MEASUREMENT_ACK)
        with self._lock:
            self._device_id = device_id
            self._clock.reset()  # the device may have restarted: its clock with it
            self._gap_detector.reset()
            self._sessions += 1
            self._last_error = None
        log.info(
            "xsens %08X on %s measuring at %d Hz",
            device_id,
            self.config.port,
            self.output[-1].rate_hz,
        )

    def _measure(self, reader: XsensReader) -> None:
        timeout_ns = int(self.config.timeout_s * 1e9)
        last_data_ns = monotonic_ns()
        while not self._stop.is_set():
            frames = self._read(reader)
            now = monotonic_ns()
            for frame in frames or ():
                last_data_ns = now
                if frame.mid == Mid.MTDATA2:
                    m = reader.decode(frame)
                    if m is not None:
                        self._on_data(m, now)
                elif frame.mid == Mid.WAKEUP:
                    raise _RestartedError()
                elif frame.mid == Mid.ERROR:
                    with self._lock:
                        self._device_errors += 1
                    log.warning("the MTi reports %s", describe_error(frame.data))
                else:
                    log.debug("ignoring %s while measuring", frame.name)
            if now - last_data_ns > timeout_ns:
                raise _LinkLostError(f"no data for {self.config.timeout_s:.2f} s")

    def _on_data(self, m: MtData2, rx_ns: int) -> None:
        with self._lock:
            self._connected = True  # configured, and data is flowing
            if self._gap_detector.update(m):
                self._gaps += 1
            if m.accel_mps2 is None or m.gyro_radps is None:
                return
            if not (np.isfinite(m.accel_mps2).all() and np.isfinite(m.gyro_radps).all()):
                self._bad_values += 1
                return
            if m.sample_time_fine is not None:
                t_ns = self._clock.update(m.sample_time_fine, rx_ns)
            else:
                t_ns = rx_ns
            sample = ImuSample(t_ns=t_ns, gyro_radps=m.gyro_radps, accel_mps2=m.accel_mps2)
            self._samples += 1
            self._rx_times.append(rx_ns)
            while True:
                try:
                    self.queue.put_nowait(sample)
                    break
                except queue.Full:
                    try:
                        self.queue.get_nowait()
                        self._dropped += 1
                    except queue.Empty:
                        pass
