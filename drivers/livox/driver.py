"""The live Livox Mid-360 driver: UDP in, LidarSweep and ImuSample frames out.

Two threads. The IO thread owns the sockets (one per channel, bound on the host ip at the
lidar's ports + host_port_offset): it drains each burst of point datagrams and decodes it in
one batch, decodes IMU packets, hands command ACKs to the control thread, tracks loss by
udp_cnt per stream, maps the lidar's clock to the host's, cuts points into sweeps and puts
frames on a queue. The control thread discovers the lidar (unicast to the configured lidar
ip, never broadcast), configures it (host endpoints, point data type, IMU, work mode) with
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

import collections
import contextlib
import itertools
import logging
import queue
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace

import numpy as np

from drivers.config import LidarConfig
from drivers.frames import ImuSample, LidarSweep
from drivers.livox import protocol as p
from drivers.source import Sensor, SensorHealth, Tagged

log = logging.getLogger(__name__)

Endpoint = tuple[str, int]

COMMAND_TIMEOUT_S = 0.3
COMMAND_ATTEMPTS = 3
DISCOVERY_ATTEMPTS = 2
MAX_BURST = 512  # datagrams drained from the point socket per batch decode
BATCH_WAIT_S = 0.005
RCVBUF_BYTES = {"point": 4 << 20, "imu": 1 << 20}  # capped by net.core.rmem_max
CLOCK_BUCKET_NS = 1_000_000_000
CLOCK_WINDOW_BUCKETS = 10
CLOCK_RESET_NS = 1_000_000_000  # a jump of the offset larger than this restarts the filter
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


class UdpCntTracker:
    """Packets missing from a stream, from gaps in its 16-bit udp_cnt."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.drops = 0

    def update(self, cnts: np.ndarray) -> int:  # [P] uint16, arrival order
        if len(cnts) == 0:
            return 0
        seq = cnts.astype(np.int64)
        prev = np.concatenate([[seq[0] - 1 if self.last is None else self.last], seq[:-1]])
        step = (seq - prev) % 65536
        forward = (step >= 1) & (step < 32768)  # else a duplicate, a late packet or a restart
        new = int(np.sum(step[forward] - 1))
        self.drops += new
        self.last = int(seq[-1])
        return new


class ClockMapper:
    """Lidar clock -> host monotonic clock, by a windowed minimum of (receive - stamp)."""

    def __init__(self) -> None:
        self._buckets: collections.deque[list[int]] = collections.deque()  # [bucket, min]
        self.offset_ns: int | None = None
        self.time_type: int | None = None

    def reset(self) -> None:
        self._buckets.clear()
        self.offset_ns = None

    def update(self, host_ns: np.ndarray, lidar_ns: np.ndarray, time_type: int) -> None:
        if len(host_ns) == 0:
            return
        if time_type != self.time_type:
            self._buckets.clear()
            self.time_type = time_type
        candidate = int(np.min(host_ns.astype(np.int64) - lidar_ns.astype(np.int64)))
        if self.offset_ns is not None and candidate - self.offset_ns > CLOCK_RESET_NS:
            log.warning(
                "lidar clock jumped back by %.3f s; clock filter restarted",
                (candidate - self.offset_ns) * 1e-9,
            )
            self._buckets.clear()
        bucket = int(host_ns[-1]) // CLOCK_BUCKET_NS
        if self._buckets and self._buckets[-1][0] == bucket:
            self._buckets[-1][1] = min(self._buckets[-1][1], candidate)
        else:
            self._buckets.append([bucket, candidate])
        while self._buckets and self._buckets[0][0] <= bucket - CLOCK_WINDOW_BUCKETS:
            self._buckets.popleft()
        self.offset_ns = min(b[1] for b in self._buckets)

    def to_host(self, lidar_ns: int) -> int:
        if self.time_type in (p.TimeType.PTP, p.TimeType.GPS) or self.offset_ns is None:
            return lidar_ns
        return lidar_ns + self.offset_ns


@dataclass(frozen=True, slots=True)
class _SweepPoints:
    start_ns: int  # lidar clock
    xyz_m: np.ndarray  # [N, 3] float32
    reflectivity: np.ndarray  # [N] uint8
    tag: np.ndarray  # [N] uint8
    line: np.ndarray  # [N] uint8
    t_ns: np.ndarray  # [N] int64 lidar clock


class SweepAssembler:
    """Cuts the point stream into sweeps of period_ns on a grid anchored at the first packet
    (with PTP/GPS time: at multiples of period_ns since the epoch).

    Points are binned by their own (lidar-clock) times, so a packet that straddles a
    boundary is split. A sweep is complete when a later one begins; gaps leave no empty
    sweeps; a change of time_type, or a lidar clock that runs backwards by more than a
    second, restarts the grid.
    """

    def __init__(self, period_ns: int) -> None:
        self.period_ns = period_ns
        self.origin_ns: int | None = None
        self.index: int | None = None
        self.time_type: int | None = None
        self._chunks: list[tuple[np.ndarray, ...]] = []

    def add(self, batch: p.PointBatch) -> list[_SweepPoints]:
        done: list[_SweepPoints] = []
        if len(batch.headers) == 0:
            return done
        first_ts = int(batch.headers["timestamp"][0])
        time_type = int(batch.headers["time_type"][0])
        if (
            self.origin_ns is None
            or time_type != self.time_type
            or (self.index is not None and first_ts < self._start(self.index) - 1_000_000_000)
        ):
            done.extend(self.flush())
            synced = time_type in (p.TimeType.PTP, p.TimeType.GPS)
            self.origin_ns = 0 if synced else first_ts  # synced: sweeps on whole periods
            self.index, self.time_type = None, time_type
        if len(batch) == 0:
            return done
        k = (batch.t_ns - self.origin_ns) // self.period_ns  # [N]
        if self.index is not None:
            k = np.maximum(k, self.index)  # a little reordering joins the current sweep
        cuts = np.flatnonzero(np.diff(k)) + 1
        for s, e in zip(np.r_[0, cuts], np.r_[cuts, len(k)], strict=True):
            ks = int(k[s])
            if self.index is not None and ks != self.index:
                done.extend(self.flush())
            self.index = ks
            self._chunks.append(
                (
                    batch.xyz_m[s:e],
                    batch.reflectivity[s:e],
                    batch.tag[s:e],
                    batch.line[s:e],
                    batch.t_ns[s:e],
                )
            )
        return done

    def _start(self, index: int) -> int:
        assert self.origin_ns is not None
        return self.origin_ns + index * self.period_ns

    def flush(self) -> list[_SweepPoints]:
        if not self._chunks or self.index is None:
            return []
        xyz, refl, tag, line, t_ns = (np.concatenate(c) for c in zip(*self._chunks, strict=True))
        self._chunks = []
        return [_SweepPoints(self._start(self.index), xyz, refl, tag, line, t_ns)]


@dataclass
class _Counters:
    sweeps: int = 0
    points: int = 0
    imu_samples: int = 0
    point_packets: int = 0
    imu_packets: int = 0
    frames_dropped: int = 0


@dataclass
class _Rates:
    point_rate_hz: float = 0.0
    sweep_rate_hz: float = 0.0
    imu_rate_hz: float = 0.0
    packet_rate_hz: float = 0.0


class Mid360Driver:
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
        self._acks: dict[int, p.CommandFrame] = {}
        self._discovered: p.DiscoveryInfo | None = None
        self._seq = itertools.count(1)

        self._counters = _Counters()
        self._rates = _Rates()
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

    # ---------------------------------------------------------------- IO thread

    def _io_loop(self) -> None:
        sel = selectors.DefaultSelector()
        for name, s in self._socks.items():
            sel.register(s, selectors.EVENT_READ, name)
        next_rates = time.monotonic_ns() + 1_000_000_000
        prev = replace(self._counters)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.05):
                    try:
                        self._drain(key.fileobj, key.data)  # type: ignore[arg-type]
                    except Exception:  # a bug: keep it visible, keep the stream going
                        if "internal" not in self._logged_kinds:
                            self._logged_kinds.add("internal")
                            log.exception("Mid-360 driver: unexpected error handling %s", key.data)
                now = time.monotonic_ns()
                self._check_connection(now)
                # Let a few packets gather (~10 at the Mid-360's rate): one batch decode of
                # many costs little more than one of a single packet.
                self._stop.wait(BATCH_WAIT_S)
                if now >= next_rates:
                    prev = self._update_rates(prev, now - next_rates + 1_000_000_000)
                    next_rates = now + 1_000_000_000
        finally:
            sel.close()

    def _drain(self, sock: socket.socket, name: str) -> None:
        expected = self._expected(name)
        datagrams: list[bytes] = []
        recv_ns: list[int] = []
        while len(datagrams) < MAX_BURST:
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:
                log.debug("recv on %s: %s", name, e)
                break
            t = time.monotonic_ns()
            if addr != expected and not (name == "discovery" and addr[0] == expected[0]):
                self._count_error("unexpected_address", f"{name} datagram from {addr}")
                continue
            datagrams.append(data)
            recv_ns.append(t)
        if not datagrams:
            return
        if name == "point":
            self._on_points(datagrams, np.array(recv_ns, dtype=np.int64))
        elif name == "imu":
            for data, t in zip(datagrams, recv_ns, strict=True):
                self._on_imu(data, t)
        else:
            for data in datagrams:
                self._on_command(name, data)

    def _on_points(self, datagrams: list[bytes], recv_ns: np.ndarray) -> None:
        batch = p.decode_point_packets(datagrams, errors="skip")
        for _, err in batch.errors:
            self._count_error(err.kind, f"point packet: {err}")
        n_packets = len(batch.headers)
        if n_packets == 0:
            return
        hdr = batch.headers
        with self._lock:
            self._point_cnt.update(hdr["udp_cnt"])
            self._clock.update(
                recv_ns[batch.source_index], hdr["timestamp"], int(hdr["time_type"][-1])
            )
            self._counters.point_packets += n_packets
            self._counters.points += len(batch)
            self._last_data_ns = int(recv_ns[-1])
        for sweep in self._sweeps.add(batch):
            self._emit_sweep(sweep)

    def _emit_sweep(self, s: _SweepPoints) -> None:
        t0 = self._clock.to_host(s.start_ns)
        sweep = LidarSweep(
            t_ns=t0,
            xyz_m=s.xyz_m,
            intensity=s.reflectivity.astype(np.float32),
            point_dt_s=((s.t_ns - s.start_ns) * 1e-9).astype(np.float32),
            index=self._sweep_index,
            line=s.line,
            tag=s.tag,
        )
        self._sweep_index += 1
        with self._lock:
            self._counters.sweeps += 1
        self._put(Tagged(Sensor.lidar, sweep))

    def _on_imu(self, data: bytes, recv_ns: int) -> None:
        try:
            pkt = p.decode_imu(data)
        except p.ProtocolError as err:
            self._count_error(err.kind, f"IMU packet: {err}")
            return
        h = pkt.header
        with self._lock:
            self._imu_cnt.update(np.array([h.udp_cnt], dtype=np.uint16))
            self._clock.update(np.array([recv_ns]), np.array([h.timestamp_ns]), h.time_type)
            self._counters.imu_packets += 1
            self._counters.imu_samples += 1
            self._last_data_ns = recv_ns
            t_ns = self._clock.to_host(h.timestamp_ns)
        sample = ImuSample(t_ns=t_ns, gyro_radps=pkt.gyro_radps, accel_mps2=pkt.acc_mps2)
        self._put(Tagged(Sensor.imu, sample))

    def _on_command(self, name: str, data: bytes) -> None:
        try:
            frame = p.decode_command(data)
        except p.ProtocolError as err:
            self._count_error(err.kind, f"{name} frame: {err}")
            return
        try:
            if name == "discovery":
                if frame.cmd_id == p.CmdId.DISCOVERY and frame.cmd_type == p.CmdType.ACK:
                    info = p.decode_discovery_ack_data(frame.data)
                    with self._ack_cond:
                        self._discovered = info
                        self._ack_cond.notify_all()
            elif frame.cmd_id == p.CmdId.PUSH:
                self._on_state(p.decode_kv(frame.data))
            elif frame.cmd_type == p.CmdType.ACK:
                with self._ack_cond:
                    self._acks[frame.seq] = frame
                    self._ack_cond.notify_all()
        except p.ProtocolError as err:
            self._count_error(err.kind, f"{name} frame data: {err}")

    def _on_state(self, items: dict[int, bytes]) -> None:
        with self._lock:
            if p.ParamKey.SN in items:
                self._serial = items[p.ParamKey.SN].split(b"\0", 1)[0].decode("ascii", "replace")
            if len(items.get(p.ParamKey.CUR_WORK_STATE, b"")) == 1:
                self._work_state = items[p.ParamKey.CUR_WORK_STATE][0]

    def _check_connection(self, now_ns: int) -> None:
        last = self._last_data_ns
        alive = last is not None and now_ns - last < self._timeout_ns
        if alive == self._connected:
            return
        with self._lock:
            self._connected = alive
        if alive:
            log.info("Mid-360 data flowing")
            return
        log.warning(
            "no Mid-360 data for %.1f s: disconnected; rediscovering", self.config.timeout_s
        )
        self._configured.clear()
        for sweep in self._sweeps.flush():
            self._emit_sweep(sweep)
        # The lidar may come back rebooted: a new clock, a new sweep grid.
        self._sweeps = SweepAssembler(self._sweeps.period_ns)
        with self._lock:
            self._clock.reset()

    def _update_rates(self, prev: _Counters, dt_ns: int) -> _Counters:
        with self._lock:
            c = replace(self._counters)
            dt = max(dt_ns, 1) * 1e-9
            self._rates = _Rates(
                point_rate_hz=(c.points - prev.points) / dt,
                sweep_rate_hz=(c.sweeps - prev.sweeps) / dt,
                imu_rate_hz=(c.imu_samples - prev.imu_samples) / dt,
                packet_rate_hz=(
                    c.point_packets + c.imu_packets - prev.point_packets - prev.imu_packets
                )
                / dt,
            )
        return c

    # ---------------------------------------------------------------- control thread

    def _control_loop(self) -> None:
        next_attempt = 0.0
        failures = 0
        while not self._stop.is_set():
            if (
                self._configured.is_set()
                and not self._connected
                and time.monotonic() - self._configured_at > self.config.timeout_s
            ):  # configured, yet no data: try again
                self._configured.clear()
            if not self._configured.is_set() and time.monotonic() >= next_attempt:
                if self._connect():
                    failures = 0
                else:
                    failures += 1
                    if failures == 1:
                        log.warning(
                            "Mid-360 at %s not answering; retrying every %.1f s",
                            self._lidar_ip,
                            self._retry_s,
                        )
                    next_attempt = time.monotonic() + self._retry_s
            self._stop.wait(0.05)

    def _connect(self) -> bool:
        """Discover and configure; True when every step was ACKed."""
        info = self._discover()
        if info is None:
            # Some firmware may not answer unicast discovery; a query proves it is there.
            ack = self._request(lambda seq: p.query_request(seq, [p.ParamKey.SN]))
            if ack is None:
                return False
        elif info.cmd_port and info.cmd_port != self._cmd_port:
            log.info("lidar command port is %d (config: %d)", info.cmd_port, self._cmd_port)
            self._cmd_port = info.cmd_port
        cfg = self.config
        ports = self._host_ports, self._lidar_ports
        steps = [
            (
                "host endpoints",
                lambda seq: p.set_host_endpoints_request(
                    seq,
                    self._host_ip,
                    state=(ports[0]["push"], ports[1]["push"]),
                    point=(ports[0]["point"], ports[1]["point"]),
                    imu=(ports[0]["imu"], ports[1]["imu"]),
                ),
            ),
            (
                "point data type",
                lambda seq: p.set_point_data_type_request(seq, cfg.point_data_type),
            ),
            ("IMU", lambda seq: p.enable_imu_request(seq, cfg.imu_enabled)),
            ("work mode", lambda seq: p.set_work_mode_request(seq, p.WorkMode.NORMAL)),
        ]
        for what, build in steps:
            ack = self._request(build)
            if ack is None:
                return False
            try:
                ret, key = p.decode_set_ack_data(ack.data)
            except p.ProtocolError as err:
                self._count_error(err.kind, f"set ACK: {err}")
                return False
            if ret != p.RetCode.SUCCESS:
                self._count_error("nack", f"setting {what}: ret_code 0x{ret:02X}, key 0x{key:04X}")
                return False
        self._query_state()
        self._configured_at = time.monotonic()
        self._configured.set()
        log.info(
            "Mid-360 %s at %s configured (data type %d, IMU %s)",
            self._serial or "?",
            self._lidar_ip,
            cfg.point_data_type,
            "on" if cfg.imu_enabled else "off",
        )
        return True

    def _discover(self) -> p.DiscoveryInfo | None:
        sock = self._socks.get("discovery")
        if sock is None:
            return None
        for _ in range(DISCOVERY_ATTEMPTS):
            with self._ack_cond:
                self._discovered = None
            frame = p.encode_command(p.discovery_request(self._next_seq()))
            try:
                sock.sendto(frame, (self._lidar_ip, self._lidar_ports["discovery"]))
            except OSError as e:
                log.debug("discovery send failed: %s", e)
                return None
            deadline = time.monotonic() + COMMAND_TIMEOUT_S
            with self._ack_cond:
                while self._discovered is None and not self._stop.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._ack_cond.wait(left)
                info = self._discovered
            if info is not None:
                if info.ret_code != 0 or info.dev_type != p.DEVICE_TYPE_MID360:
                    log.warning(
                        "discovery answer ret_code %d dev_type %d (Mid-360 is 9)",
                        info.ret_code,
                        info.dev_type,
                    )
                with self._lock:
                    self._serial = info.serial
                return info
        return None

    def _next_seq(self) -> int:
        return next(self._seq) & 0xFFFF

    def _request(self, build) -> p.CommandFrame | None:  # build: seq -> CommandFrame
        sock = self._socks.get("command")
        if sock is None:
            return None
        for _ in range(COMMAND_ATTEMPTS):
            request = build(self._next_seq())
            try:
                sock.sendto(p.encode_command(request), (self._lidar_ip, self._cmd_port))
            except OSError as e:
                log.debug("command send failed: %s", e)
                return None
            deadline = time.monotonic() + COMMAND_TIMEOUT_S
            with self._ack_cond:
                while request.seq not in self._acks and not self._stop.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._ack_cond.wait(left)
                ack = self._acks.pop(request.seq, None)
                self._acks.clear()  # late ACKs of earlier attempts
            if ack is not None and ack.cmd_id == request.cmd_id:
                return ack
            if self._stop.is_set():
                return None
        self._count_error("command_timeout", f"no ACK to command 0x{request.cmd_id:04X}")
        return None

    def _query_state(self) -> None:
        keys = [p.ParamKey.SN, p.ParamKey.CUR_WORK_STATE, p.ParamKey.FW_TYPE]
        ack = self._request(lambda seq: p.query_request(seq, keys))
        if ack is None:
            return
        try:
            ret, items = p.decode_query_ack_data(ack.data)
        except p.ProtocolError as err:
            self._count_error(err.kind, f"query ACK: {err}")
            return
        if ret == p.RetCode.SUCCESS:
            self._on_state(items)
