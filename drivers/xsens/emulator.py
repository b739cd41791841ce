"""An Xsens MTi on a pseudo-terminal: plays ImuSamples as MTData2, answers the control messages.

For tests and for running the scanner without the hardware: `XsensEmulator(samples, link)`
opens a pty, links `link` to its slave side (as the udev rule links /dev/scanner-imu), and
behaves like an MTi at the other end:

* at power-up (start, replug, Reset) it sends WakeUp; a WakeUpAck within 500 ms keeps it in
  config state, otherwise it starts measuring with its current output configuration;
* GoToConfig, GoToMeasurement, ReqDID, ReqProductCode, SetOutputConfiguration, Reset are
  acknowledged; anything else, or SetOutputConfiguration outside config state, gets Error 0x04;
* in measurement state it streams one MTData2 per sample, paced by the samples' own times
  divided by `rate` (0: as fast as the reader takes them). SampleTimeFine comes from the
  sample times on the emulator's own clock (starting at `start_ticks`, wrapping at 2^32),
  PacketCounter counts messages, the quaternion integrates the gyro from identity (the messages
  are made by `drivers.xsens.synth`).

The output configuration chooses which items each message holds and their format bits; the
rates in it are acknowledged but the stream follows the samples' rate.

`inject_garbage`, `unplug` and `replug` let tests break the line. One thread does all pty
I/O; the public methods hand it commands and wait for them to be done.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import queue
import random
import select
import threading
import time
import tty
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Literal

from drivers.frames import ImuSample
from drivers.xsens.control import (
    RATE_EVERY_PACKET,
    ErrorCode,
    OutputSetting,
    decode_output_configuration,
    encode_output_configuration,
)
from drivers.xsens.mtdata2 import SAMPLE_TIME_FINE_MODULUS, Xdi
from drivers.xsens.synth import MtData2Maker
from drivers.xsens.xbus import Mid, XbusError, XbusFrame, XbusFrameFinder, encode_frame

log = logging.getLogger(__name__)

Mode = Literal["off", "wakeup", "config", "measurement"]

DEFAULT_OUTPUT = (
    OutputSetting(Xdi.PACKET_COUNTER, RATE_EVERY_PACKET),
    OutputSetting(Xdi.SAMPLE_TIME_FINE, RATE_EVERY_PACKET),
    OutputSetting(Xdi.QUATERNION, 100),
    OutputSetting(Xdi.ACCELERATION, 100),
    OutputSetting(Xdi.RATE_OF_TURN, 100),
)
WAKEUP_WINDOW_S = 0.5
_PACED_BACKLOG_BYTES = 4096  # paced: drop messages while this much is unread (like a UART)
_FAST_BACKLOG_BYTES = 512  # rate 0: make the next message only when the line has drained
_MAX_BURST = 64  # messages made per loop turn when behind schedule


class XsensEmulator:
    """A fake MTi behind a pty whose slave is linked at `link_path`."""

    def __init__(
        self,
        samples: Iterable[ImuSample],
        link_path: str | os.PathLike[str],
        rate: float = 1.0,
        *,
        device_id: int = 0x03780001,
        product_code: str = "MTi-630-emulated",
        start_ticks: int | None = None,
        seed: int | None = None,
    ) -> None:
        if rate < 0.0:
            raise ValueError(f"rate must be >= 0 (0: as fast as possible), got {rate}")
        self.link_path = Path(link_path)
        self.rate = rate
        self.device_id = device_id
        self.product_code = product_code
        rng = random.Random(seed)
        self.start_ticks = (
            rng.randrange(SAMPLE_TIME_FINE_MODULUS) if start_ticks is None else start_ticks
        ) % SAMPLE_TIME_FINE_MODULUS
        self._samples: Iterator[ImuSample] = iter(samples)
        self._next: ImuSample | None = None
        self._exhausted = False
        self._maker = MtData2Maker(self.start_ticks)
        self._anchor: tuple[float, int] | None = None  # (wall s, sample t_ns) of the pacing

        self.output_configuration: tuple[OutputSetting, ...] = DEFAULT_OUTPUT
        self.mode: Mode = "off"
        self.received: list[int] = []  # MIDs of the messages received, in order
        self.messages_sent = 0
        self.messages_dropped = 0
        self.slave_name: str | None = None

        self._master: int | None = None
        self._slave: int | None = None
        self._finder = XbusFrameFinder()
        self._out = bytearray()
        self._wakeup_deadline = 0.0
        self._commands: queue.Queue[tuple[Callable[[], None], threading.Event]] = queue.Queue()
        self._wake_r = self._wake_w = -1  # a self-pipe that interrupts the I/O thread's select
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # guards `received` and the counters for readers

    # -- public -----------------------------------------------------------------------------

    def start(self) -> XsensEmulator:
        if self._thread is not None:
            return self
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._plug()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="xsens-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._wake()
            self._thread.join(timeout=5.0)
            self._thread = None
        self._unplug()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def __enter__(self) -> XsensEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def plugged(self) -> bool:
        return self._master is not None

    @property
    def exhausted(self) -> bool:
        """All samples have been sent."""
        return self._exhausted and self._next is None

    def received_mids(self) -> list[int]:
        with self._lock:
            return list(self.received)

    def inject_garbage(self, data: bytes) -> None:
        """Put `data` on the line between two messages."""
        self._call(lambda: self._out.extend(data))

    def power_cycle(self) -> None:
        """Restart the device without unplugging: WakeUp, then measurement after 500 ms."""
        self._call(self._power_up)

    def unplug(self) -> None:
        """Pull the cable: close the pty (the reader gets EIO) and remove the link."""
        self._call(self._unplug)

    def replug(self) -> None:
        """Plug it back: a new pty, the link again, and the power-up WakeUp."""
        self._call(self._plug)

    # -- plumbing ---------------------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _call(self, fn: Callable[[], None]) -> None:
        """Run fn on the I/O thread (directly when it is not running) and wait for it."""
        if self._thread is None or threading.current_thread() is self._thread:
            fn()
            return
        done = threading.Event()
        self._commands.put((fn, done))
        self._wake()
        if not done.wait(timeout=5.0):
            raise TimeoutError("the emulator thread did not answer")

    def _plug(self) -> None:
        if self._master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: a binary line
        tty.setraw(master)
        os.set_blocking(master, False)
        fcntl.fcntl(master, fcntl.F_SETFD, fcntl.FD_CLOEXEC)
        self._master, self._slave = master, slave
        self.slave_name = os.ttyname(slave)
        self.link_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.link_path.with_name(f".{self.link_path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(self.slave_name, tmp)
        os.replace(tmp, self.link_path)  # atomic: replaces an existing link
        self._finder.reset()
        self._out.clear()
        self._power_up()
        log.info("emulated MTi on %s -> %s", self.link_path, self.slave_name)

    def _unplug(self) -> None:
        if self._master is None:
            return
        with contextlib.suppress(OSError):
            if self.link_path.is_symlink() and os.readlink(self.link_path) == self.slave_name:
                self.link_path.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        self._out.clear()
        self.mode = "off"
        log.info("emulated MTi unplugged from %s", self.link_path)

    def _power_up(self) -> None:
        self.mode = "wakeup"
        self._wakeup_deadline = time.monotonic() + WAKEUP_WINDOW_S
        self._send(Mid.WAKEUP)

    def _send(self, mid: int, data: bytes = b"") -> None:
        self._out += encode_frame(mid, data)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._turn()
        except Exception:
            log.exception("emulator thread failed")
            raise

    def _turn(self) -> None:
        while True:
            try:
                fn, done = self._commands.get_nowait()
            except queue.Empty:
                break
            try:
                fn()
            finally:
                done.set()
        now = time.monotonic()
        timeout = 0.05
        if self.mode == "wakeup":
            timeout = min(timeout, max(0.0, self._wakeup_deadline - now))
        elif self.mode == "measurement" and (upcoming := self._peek()) is not None:
            # As fast as possible with the line full: wait for it to drain, do not spin.
            line_full = self.rate == 0.0 and len(self._out) >= _FAST_BACKLOG_BYTES
            if not line_full:
                timeout = min(timeout, max(0.0, self._due(upcoming) - now))
        rlist = [self._wake_r]
        wlist: list[int] = []
        if self._master is not None:
            rlist.append(self._master)
            if self._out:
                wlist.append(self._master)
        readable, writable, _ = select.select(rlist, wlist, [], timeout)
        if self._wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_r, 1024)
        if self._master is None:
            return
        if self._master in readable:
            self._read(self._master)
        if self.mode == "wakeup" and time.monotonic() >= self._wakeup_deadline:
            self._enter_measurement()
        if self.mode == "measurement":
            self._stream()
        if self._out:
            self._write(self._master)

    def _read(self, fd: int) -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: no one has the slave open; nothing to read
                raise
            return
        for frame in self._finder.feed(data):
            self._handle(frame)

    def _write(self, fd: int) -> None:
        try:
            n = os.write(fd, self._out)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            self._out.clear()
            return
        del self._out[:n]

    # -- the device -------------------------------------------------------------------------

    def _handle(self, frame: XbusFrame) -> None:
        with self._lock:
            self.received.append(frame.mid)
        mid = frame.mid
        if mid == Mid.WAKEUP_ACK:
            if self.mode == "wakeup":
                self.mode = "config"
        elif mid == Mid.GOTO_CONFIG:
            self.mode = "config"
            self._send(Mid.GOTO_CONFIG_ACK)
        elif mid == Mid.GOTO_MEASUREMENT:
            self._send(Mid.GOTO_MEASUREMENT_ACK)
            self._enter_measurement()
        elif mid == Mid.REQ_DID:
            self._send(Mid.DEVICE_ID, self.device_id.to_bytes(4, "big"))
        elif mid == Mid.REQ_PRODUCT_CODE:
            self._send(Mid.PRODUCT_CODE, self.product_code.encode("ascii"))
        elif mid == Mid.SET_OUTPUT_CONFIGURATION:
            if self.mode != "config":
                self._send(Mid.ERROR, bytes((ErrorCode.INVALID_MESSAGE,)))
                return
            try:
                settings = decode_output_configuration(frame.data)
            except XbusError:
                self._send(Mid.ERROR, bytes((ErrorCode.INVALID_PARAMETER,)))
                return
            if settings:  # an empty one only asks for the current configuration
                self.output_configuration = settings
            self._send(
                Mid.OUTPUT_CONFIGURATION, encode_output_configuration(self.output_configuration)
            )
        elif mid == Mid.RESET:
            self._send(Mid.RESET_ACK)
            self._power_up()
        else:
            self._send(Mid.ERROR, bytes((ErrorCode.INVALID_MESSAGE,)))

    def _enter_measurement(self) -> None:
        if self.mode != "measurement":
            self.mode = "measurement"
            self._anchor = None  # pacing starts over from the next sample

    def _peek(self) -> ImuSample | None:
        if self._next is None and not self._exhausted:
            try:
                self._next = next(self._samples)
            except StopIteration:
                self._exhausted = True
                log.info("emulated MTi: all %d samples sent", self.messages_sent)
        return self._next

    def _due(self, sample: ImuSample) -> float:
        """Wall time (time.monotonic) at which `sample` goes out."""
        if self.rate == 0.0:
            return 0.0
        if self._anchor is None:
            self._anchor = (time.monotonic(), sample.t_ns)
        wall0, t0 = self._anchor
        return wall0 + (sample.t_ns - t0) * 1e-9 / self.rate

    def _stream(self) -> None:
        for _ in range(_MAX_BURST):
            sample = self._peek()
            if sample is None:
                return
            if self.rate == 0.0:
                if len(self._out) >= _FAST_BACKLOG_BYTES:
                    return
            elif self._due(sample) > time.monotonic():
                return
            self._next = None
            message = self._maker.message(sample, self.output_configuration)
            if self.rate != 0.0 and len(self._out) >= _PACED_BACKLOG_BYTES:
                self.messages_dropped += 1  # nobody reads the line: the bytes are lost
                continue
            self._out += message
            self.messages_sent += 1
