"""The live Livox Mid-360 driver: UDP in, LidarSweep and ImuSample frames out.

Two threads, each in a base class of :class:`Mid360Driver` of its own module
(:mod:`~drivers.livox.driver_io`, :mod:`~drivers.livox.driver_control`); the pure helpers they
use are :mod:`~drivers.livox.stream`. The IO thread owns the sockets (one per channel, bound on
the host ip at the lidar's ports + host_port_offset): it drains each burst of point datagrams
and decodes it in one batch, decodes IMU packets, hands command ACKs to the control thread,
tracks loss by udp_cnt per stream, maps the lidar's clock to the host's, cuts points into sweeps
and puts frames on a queue. The control thread discovers the lidar (unicast to the configured
lidar ip, never broadcast), configures it (host endpoints, point data type, IMU, work mode) with
retries, and does it again whenever data stops for timeout_s, so a lidar that comes back is
picked up without a restart.

Clock: with time_type 0 (the lidar's free-running clock) the offset host - lidar is the
minimum of (host receive time - lidar timestamp) over the last ~10 s of packets, the usual
one-way-delay lower bound; frames carry host time.monotonic_ns() times. With time_type 1/2
(PTP/gPTP, GPS) timestamps keep their epoch; the offset is still reported. A sweep's t_ns is
the start of its period on that clock and point_dt_s the lidar's own point times relative to
it, so the lidar's timing inside a sweep is kept exactly (to the protocol's 0.1 us). The
offset filter restarts when the lidar comes back after a disconnect (it may have rebooted).
A lidar clock that runs faster than the host's (an emulator replaying faster than real time)
cannot be mapped meaningfully: per-sweep point times stay right, host times do not.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace

from drivers.config import LidarConfig
from drivers.livox.command_frame import CommandFrame
from drivers.livox.commands import DiscoveryInfo
from drivers.livox.driver_control import ControlThread
from drivers.livox.driver_io import IoThread
from drivers.livox.stream import (
    ClockMapper,
    StreamCounters,
    StreamRates,
    SweepAssembler,
    UdpCntTracker,
)
from drivers.source import Sensor, SensorHealth, Tagged

log = logging.getLogger(__name__)

Endpoint = tuple[str, int]

RCVBUF_BYTES = {"point": 4 << 20, "imu": 1 << 20}  # capped by net.core.rmem_max
_STOP = object()


@dataclass(frozen=True, slots=True)
class ErrorCounts:
    truncated: int = 0
    oversized: int = 0
    crc: int = 0
    unknown_data_type: int = 0
    bad_frame: int = 0
    unexpected_address: int = 0
    nack: int = 0  # an ACK with a non-zero ret_code
    command_timeout: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


@dataclass(frozen=True, slots=True)
class DriverStatus:
    connected: bool  # data arrived within the last timeout_s
    configured: bool  # the last configuration was ACKed
    serial: str | None
    work_state: int | None  # WorkState from push messages / queries
    sweeps: int
    points: int
    imu_samples: int
    point_packets: int
    imu_packets: int
    point_drops: int  # udp_cnt gaps on the point stream
    imu_drops: int
    errors: ErrorCounts
    point_rate_hz: float
    sweep_rate_hz: float
    imu_rate_hz: float
    packet_rate_hz: float
    clock_offset_ns: int | None  # host monotonic - lidar clock
    time_type: int | None
    frames_dropped: int  # frames lost because the consumer did not keep up
    last_data_age_s: float | None

    @property
    def drops(self) -> int:
        return self.point_drops + self.imu_drops


class Mid360Driver(IoThread, ControlThread):
    """Receives a Mid-360. ``with Mid360Driver(cfg) as d: for f in d.frames(): ...``"""

    def __init__(self, config: LidarConfig, *, queue_size: int = 512) -> None:
        self.config = config
        self._host_ip = str(config.host_ip)
        self._lidar_ip = str(config.lidar_ip)
        off = config.host_port_offset
        self._lidar_ports = {
            "discovery": config.discovery_port,
            "command": config.command_port,
            "push": config.push_port,
            "point": config.point_port,
            "imu": config.imu_port,
        }
        self._host_ports = {k: v + off for k, v in self._lidar_ports.items()}
        self._cmd_port = config.command_port  # updated from the discovery ACK
        self._timeout_ns = int(config.timeout_s * 1e9)
        self._retry_s = min(1.0, config.timeout_s)

        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._socks: dict[str, socket.socket] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._configured = threading.Event()
        self._configured_at = 0.0
        self._lock = threading.Lock()
        self._ack_cond = threading.Condition()
        self._acks: dict[int, CommandFrame] = {}
        self._discovered: DiscoveryInfo | None = None
        self._seq = itertools.count(1)

        self._counters = StreamCounters()
        self._rates = StreamRates()
        self._errors = ErrorCounts()
        self._logged_kinds: set[str] = set()
        self._point_cnt = UdpCntTracker()
        self._imu_cnt = UdpCntTracker()
        self._clock = ClockMapper()
        self._sweeps = SweepAssembler(int(round(config.sweep_period_s * 1e9)))
        self._sweep_index = 0
        self._last_data_ns: int | None = None
        self._connected = False
        self._serial: str | None = None
        self._work_state: int | None = None

    # ---------------------------------------------------------------- public

    def start(self) -> Mid360Driver:
        if not self.config.enabled:
            log.info("lidar disabled in the config; driver not started")
            return self
        try:
            for name, port in self._host_ports.items():
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                if name in RCVBUF_BYTES:  # room for bursts while the IO thread is busy
                    try:
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES[name])
                    except OSError:
                        log.debug("could not enlarge the %s socket's receive buffer", name)
                s.bind((self._host_ip, port))
                s.setblocking(False)
                self._socks[name] = s
        except OSError:
            self._close()
            raise
        self._stop.clear()
        self._queue = queue.Queue(maxsize=self._queue.maxsize)  # no end marker of a past run
        self._threads = [
            threading.Thread(target=self._io_loop, name="mid360-io", daemon=True),
            threading.Thread(target=self._control_loop, name="mid360-control", daemon=True),
        ]
        for t in self._threads:
            t.start()
        log.info("Mid-360 driver listening on %s, lidar %s", self._host_ip, self._lidar_ip)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._ack_cond:
            self._ack_cond.notify_all()
        for t in self._threads:
            t.join(timeout=5.0)
        self._threads = []
        self._close()
        for sweep in self._sweeps.flush():
            self._emit_sweep(sweep)
        self._put(_STOP, force=True)

    def __enter__(self) -> Mid360Driver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def close(self) -> None:
        self.stop()

    def frames(self, timeout_s: float | None = None) -> Iterator[Tagged]:
        """Sweeps (Sensor.lidar) and IMU samples (Sensor.imu) as they come; ends at stop(), or
        after timeout_s without a frame.

        A sweep is handed out once the next one begins (or the stream stops), so IMU samples
        run about one sweep period ahead of the sweeps; each stream is in time order. If the
        consumer falls behind by queue_size frames, new frames are dropped and counted.
        """
        while True:
            try:
                item = self._queue.get(timeout=timeout_s)
            except queue.Empty:
                return
            if item is _STOP:
                self._put(_STOP, force=True)  # for other consumers
                return
            yield item  # type: ignore[misc]

    def health(self) -> dict[Sensor, SensorHealth]:
        """The point stream and the built-in IMU, each in the shape every sensor shares."""
        st = self.status()
        return {
            Sensor.lidar: SensorHealth(
                st.connected,
                st.sweep_rate_hz,
                st.point_drops + st.frames_dropped,  # on the wire, or not consumed in time
                st.errors.total,
                st.sweeps,
            ),
            Sensor.imu: SensorHealth(st.connected, st.imu_rate_hz, st.imu_drops, 0, st.imu_samples),
        }

    def status(self) -> DriverStatus:
        """Everything the driver knows, for diagnostics (health() is the summary)."""
        now = time.monotonic_ns()
        with self._lock:
            c, r = self._counters, self._rates
            last = self._last_data_ns
            return DriverStatus(
                connected=self._connected,
                configured=self._configured.is_set(),
                serial=self._serial,
                work_state=self._work_state,
                sweeps=c.sweeps,
                points=c.points,
                imu_samples=c.imu_samples,
                point_packets=c.point_packets,
                imu_packets=c.imu_packets,
                point_drops=self._point_cnt.drops,
                imu_drops=self._imu_cnt.drops,
                errors=self._errors,
                point_rate_hz=r.point_rate_hz,
                sweep_rate_hz=r.sweep_rate_hz,
                imu_rate_hz=r.imu_rate_hz,
                packet_rate_hz=r.packet_rate_hz,
                clock_offset_ns=self._clock.offset_ns,
                time_type=self._clock.time_type,
                frames_dropped=c.frames_dropped,
                last_data_age_s=None if last is None else (now - last) * 1e-9,
            )

    # ---------------------------------------------------------------- helpers

    def _close(self) -> None:
        for s in self._socks.values():
            s.close()
        self._socks = {}

    def _put(self, item: object, force: bool = False) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            if force:  # make room: this item matters more than the oldest frame
                while True:
                    with contextlib.suppress(queue.Empty):
                        self._queue.get_nowait()
                    with contextlib.suppress(queue.Full):
                        self._queue.put_nowait(item)
                        return
            with self._lock:
                self._counters.frames_dropped += 1
            self._error_once("frames_dropped", "frame queue full: the consumer is too slow")

    def _error_once(self, kind: str, message: str) -> None:
        if kind not in self._logged_kinds:
            self._logged_kinds.add(kind)
            log.warning("%s (first of its kind; further ones are only counted)", message)

    def _count_error(self, kind: str, detail: str) -> None:
        with self._lock:
            self._errors = replace(self._errors, **{kind: getattr(self._errors, kind) + 1})
        self._error_once(kind, f"{kind}: {detail}")

    def _expected(self, name: str) -> Endpoint:
        port = self._cmd_port if name == "command" else self._lidar_ports[name]
        return (self._lidar_ip, port)
