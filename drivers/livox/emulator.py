"""A Livox Mid-360 on UDP that streams recorded or synthetic frames: for tests and demos.

The emulator binds the lidar-side ports on ``lidar_ip`` (a loopback address such as 127.0.0.2),
answers discovery and commands with correct ACKs, keeps the lidar's state (work mode, IMU
enable, point data type, host endpoints from the set-host-ip keys) and streams a source of
:class:`~drivers.frames.LidarSweep` and :class:`~drivers.frames.ImuSample` frames as the
device does: 96-point packets of the configured data type on its point port, one IMU sample
per packet on its IMU port, push messages with its state (~1 Hz) on its push port, each from
the port the SDK expects it on. Time is preserved: packet timestamps come from the sweep's
per-point times on the lidar's own clock (time_type 0: source time + an offset, so lidar time
is not host time).

Safety: by default it refuses to send to any address outside 127.0.0.0/8.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import selectors
import socket
import struct
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from ipaddress import IPv4Address
from typing import Literal

import numpy as np

from drivers.frames import ImuSample, LidarSweep
from drivers.livox import protocol as p

log = logging.getLogger(__name__)

Endpoint = tuple[str, int]
Channel = Literal["point", "imu", "push", "command"]

_MAX_PACKET_SPAN_NS = 6_400_000  # keeps time_interval (u16, 0.1 us) in range at 96 points
_WORK_STATE = {
    p.WorkMode.NORMAL: p.WorkState.SAMPLING,
    p.WorkMode.WAKE_UP: p.WorkState.READY,
    p.WorkMode.SLEEP: p.WorkState.IDLE,
}
_ONE_BYTE_KEYS = {
    p.ParamKey.PCL_DATA_TYPE: {1, 2, 3},
    p.ParamKey.PATTERN_MODE: {0, 1, 2},
    p.ParamKey.DUAL_EMIT_EN: {0, 1},
    p.ParamKey.POINT_SEND_EN: {0, 1},
    p.ParamKey.WORK_MODE: {1, 2, 3},
    p.ParamKey.GLASS_HEAT: {0, 1, 2, 3},
    p.ParamKey.IMU_DATA_EN: {0, 1},
}
_HOST_KEYS = {
    p.ParamKey.STATE_INFO_HOST_IP_CFG: "push",
    p.ParamKey.POINT_DATA_HOST_IP_CFG: "point",
    p.ParamKey.IMU_DATA_HOST_IP_CFG: "imu",
    p.ParamKey.CTL_HOST_IP_CFG: "ctl",
    p.ParamKey.LOG_HOST_IP_CFG: "log",
}


@dataclass(frozen=True, slots=True)
class EmulatorState:
    work_mode: int
    imu_enabled: bool
    data_type: int
    point_dest: Endpoint | None
    imu_dest: Endpoint | None
    push_dest: Endpoint | None
    unplugged: bool
    set_keys: frozenset[int]  # every key a host has set


@dataclass(frozen=True, slots=True)
class EmulatorCounters:
    point_packets_sent: int = 0
    points_sent: int = 0  # records, empty returns included
    imu_packets_sent: int = 0
    push_sent: int = 0
    acks_sent: int = 0
    discovery_replies: int = 0
    commands_received: int = 0
    bad_commands: int = 0
    lost_unplugged: int = 0  # data packets "sent into a pulled cable"
    raw_sent: int = 0
    send_errors: int = 0


@dataclass(frozen=True, slots=True)
class PointChunk:
    """The points of one packet, before the data type and udp_cnt are known."""

    xyz_m: np.ndarray  # [n, 3]
    reflectivity: np.ndarray  # [n] uint8
    tag: np.ndarray  # [n] uint8
    time_interval_100ns: int
    frame_cnt: int


@dataclass(frozen=True, slots=True)
class _ImuEvent:
    gyro_radps: np.ndarray  # [3]
    acc_g: np.ndarray  # [3]


def _is_loopback(ip: str) -> bool:
    try:
        return IPv4Address(ip).is_loopback
    except ValueError:
        return False


def sweep_to_packets(
    sweep: LidarSweep, max_points: int = p.POINTS_PER_PACKET
) -> Iterator[tuple[int, PointChunk]]:
    """(first point's source time ns, packet contents) for consecutive packets of a sweep.

    Packets hold up to 96 points, fewer where 96 would span more time than time_interval can
    say; time_interval is chosen so that the decoders' rule (timestamp + i * interval / n)
    gives back points spaced evenly from the first to the last.
    """
    n = len(sweep)
    if n == 0:
        return
    dt_ns = (
        np.zeros(n, np.int64)
        if sweep.point_dt_s is None
        else np.rint(np.asarray(sweep.point_dt_s, np.float64) * 1e9).astype(np.int64)
    )
    t_ns = sweep.t_ns + dt_ns  # [N]
    refl = (
        np.zeros(n, np.uint8)
        if sweep.intensity is None
        else np.clip(np.rint(sweep.intensity), 0, 255).astype(np.uint8)
    )
    tag = np.zeros(n, np.uint8) if sweep.tag is None else np.asarray(sweep.tag, np.uint8)
    xyz = sweep.xyz_m
    if np.any(np.diff(t_ns) < 0):  # packets need points in time order
        order = np.argsort(t_ns, kind="stable")
        t_ns, xyz, refl, tag = t_ns[order], xyz[order], refl[order], tag[order]
    frame_cnt = sweep.index & 0xFF
    s = 0
    while s < n:
        e = min(s + max_points, int(np.searchsorted(t_ns, t_ns[s] + _MAX_PACKET_SPAN_NS, "right")))
        e = max(e, s + 1)
        k = e - s
        interval = 0 if k == 1 else _time_interval(int(t_ns[e - 1] - t_ns[s]) / (k - 1), k)
        yield int(t_ns[s]), PointChunk(xyz[s:e], refl[s:e], tag[s:e], interval, frame_cnt)
        s = e


def _time_interval(spacing_ns: float, k: int) -> int:
    """time_interval (0.1 us) whose decoded spacing, time_interval * 100 // k, is nearest."""
    lo = min(int(spacing_ns * k // 100), p.MAX_TIME_INTERVAL)
    candidates = [ti for ti in (lo, lo + 1) if ti <= p.MAX_TIME_INTERVAL]
    return min(candidates, key=lambda ti: abs(ti * 100 // k - spacing_ns))


class Mid360Emulator:
    """An emulated Mid-360. Use as a context manager, or start() / stop()."""

    def __init__(
        self,
        lidar_ip: str = "127.0.0.2",
        host_ip: str | None = "127.0.0.1",
        *,
        source: Iterable[LidarSweep | ImuSample] = (),
        rate: float = 1.0,
        data_type: int = p.DataType.CARTESIAN_HIGH,
        serial: str = "47MDL9T0020193",
        discovery_port: int = 56000,
        command_port: int = 56100,
        push_port: int = 56200,
        point_port: int = 56300,
        imu_port: int = 56400,
        host_port_offset: int = 1,
        work_mode: int = p.WorkMode.NORMAL,
        imu_enabled: bool = True,
        time_type: int = p.TimeType.NO_SYNC,
        lidar_time_origin_ns: int = 1_000 * 10**9,
        push_interval_s: float = 1.0,
        listen_broadcast: bool = False,
        record_sent: bool = False,
        allow_non_loopback: bool = False,
    ) -> None:
        """Set up the lidar's state; nothing is bound until start().

        host_ip: where it streams before any host configures it (a real unit remembers its
            host), to the host ports (lidar ports + host_port_offset); None = nowhere.
        rate: playback speed; 0 or inf = as fast as possible.
        lidar_time_origin_ns: the lidar-clock time of the source's first frame (time_type 0);
            with time_type 1 or 2 the source times are sent as they are.
        listen_broadcast: also answer discovery broadcast to 255.255.255.255 (the official
            SDK's way); only use inside an isolated network namespace.
        """
        self.lidar_ip = lidar_ip
        self.serial = serial
        self.ports = {
            "discovery": discovery_port,
            "command": command_port,
            "push": push_port,
            "point": point_port,
            "imu": imu_port,
        }
        self._source = iter(source)
        self._rate = rate
        self._time_type = time_type
        self._lidar_time_origin_ns = lidar_time_origin_ns
        self._push_interval_s = push_interval_s
        self._listen_broadcast = listen_broadcast
        self._allow_non_loopback = allow_non_loopback
        self._record = record_sent
        if not allow_non_loopback:
            for ip in (lidar_ip, host_ip):
                if ip is not None and not _is_loopback(ip):
                    raise ValueError(f"{ip} is not a loopback address (allow_non_loopback=False)")

        self._lock = threading.Lock()
        self._work_mode = int(work_mode)
        self._imu_enabled = bool(imu_enabled)
        self._data_type = int(data_type)
        self._params: dict[int, bytes] = {p.ParamKey.PATTERN_MODE: b"\0"}
        self._dests: dict[str, Endpoint | None] = {"push": None, "point": None, "imu": None}
        if host_ip is not None:
            for ch in ("push", "point", "imu"):
                self._dests[ch] = (host_ip, self.ports[ch] + host_port_offset)
        self._set_keys: set[int] = set()
        self._unplugged = threading.Event()
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._counters = EmulatorCounters()
        self._udp_cnt = {"point": 0, "imu": 0}
        self._push_seq = 0
        self._ts_offset_ns: int | None = None
        self._start_mono_ns = time.monotonic_ns()
        self._socks: dict[str, socket.socket] = {}
        self._threads: list[threading.Thread] = []
        self._sent: list[tuple[str, bytes]] = []

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Mid360Emulator:
        try:
            for name, port in self.ports.items():
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((self.lidar_ip, port))
                s.setblocking(False)
                self._socks[name] = s
            if self._listen_broadcast:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("255.255.255.255", self.ports["discovery"]))
                s.setblocking(False)
                self._socks["broadcast"] = s
        except OSError:
            self._close_sockets()
            raise
        self._stop.clear()
        self._start_mono_ns = time.monotonic_ns()
        self._threads = [
            threading.Thread(target=self._control_loop, name="mid360-emu-control", daemon=True),
            threading.Thread(target=self._stream_loop, name="mid360-emu-stream", daemon=True),
        ]
        for t in self._threads:
            t.start()
        log.info("Mid-360 emulator %s up on %s", self.serial, self.lidar_ip)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5.0)
        self._threads = []
        self._close_sockets()

    def _close_sockets(self) -> None:
        for s in self._socks.values():
            s.close()
        self._socks = {}

    def __enter__(self) -> Mid360Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- test hooks

    def unplug(self) -> None:
        """Pull the cable: nothing is answered or delivered; the lidar keeps running."""
        self._unplugged.set()

    def replug(self) -> None:
        self._unplugged.clear()

    def send_raw(self, channel: Channel, data: bytes, dest: Endpoint | None = None) -> None:
        """Send arbitrary bytes from the lidar's port of a channel (to its host by default)."""
        sock = self._socks[channel]
        dest = dest or self._dests.get(channel)
        if dest is None:
            raise RuntimeError(f"no destination for {channel}")
        self._sendto(sock, data, dest, "raw_sent", channel)

    def skip_udp_cnt(self, n: int, channel: Literal["point", "imu"] = "point") -> None:
        """Make the next packets' udp_cnt jump by n, as if n packets were lost."""
        with self._lock:
            self._udp_cnt[channel] = (self._udp_cnt[channel] + n) & 0xFFFF

    def state(self) -> EmulatorState:
        with self._lock:
            return EmulatorState(
                work_mode=self._work_mode,
                imu_enabled=self._imu_enabled,
                data_type=self._data_type,
                point_dest=self._dests["point"],
                imu_dest=self._dests["imu"],
                push_dest=self._dests["push"],
                unplugged=self._unplugged.is_set(),
                set_keys=frozenset(self._set_keys),
            )

    def counters(self) -> EmulatorCounters:
        with self._lock:
            return self._counters

    def sent_packets(self, channel: str) -> list[bytes]:
        """What was sent on a channel (record_sent=True)."""
        with self._lock:
            return [b for ch, b in self._sent if ch == channel]

    @property
    def lidar_time_offset_ns(self) -> int | None:
        """lidar timestamp - source time, once streaming has begun."""
        return self._ts_offset_ns

    def wait_finished(self, timeout: float | None = None) -> bool:
        """Wait until the source is exhausted."""
        return self._finished.wait(timeout)

    # ---------------------------------------------------------------- internals

    def _count(self, **deltas: int) -> None:
        with self._lock:
            c = self._counters
            self._counters = replace(c, **{k: getattr(c, k) + v for k, v in deltas.items()})

    def _sendto(
        self, sock: socket.socket, data: bytes, dest: Endpoint, counter: str, channel: str
    ) -> bool:
        if not self._allow_non_loopback and not _is_loopback(dest[0]):
            log.error("refusing to send to non-loopback %s", dest)
            self._count(send_errors=1)
            return False
        try:
            sock.sendto(data, dest)
        except OSError as e:
            log.debug("send to %s failed: %s", dest, e)
            self._count(send_errors=1)
            return False
        self._count(**{counter: 1})
        if self._record:
            with self._lock:
                self._sent.append((channel, data))
        return True

    def _lidar_now_ns(self) -> int:
        return self._lidar_time_origin_ns + (time.monotonic_ns() - self._start_mono_ns)

    def _param_values(self) -> dict[int, bytes]:
        """Every key the emulator can report, with its current value."""
        with self._lock:
            work_mode, imu, data_type = self._work_mode, self._imu_enabled, self._data_type
            dests = dict(self._dests)
            params = dict(self._params)
        values: dict[int, bytes] = {
            p.ParamKey.PCL_DATA_TYPE: bytes([data_type]),
            p.ParamKey.LIDAR_IP_CFG: socket.inet_aton(self.lidar_ip)
            + socket.inet_aton("255.0.0.0")
            + socket.inet_aton(self.lidar_ip),
            p.ParamKey.WORK_MODE: bytes([work_mode]),
            p.ParamKey.IMU_DATA_EN: bytes([int(imu)]),
            p.ParamKey.SN: self.serial.encode("ascii").ljust(16, b"\0"),
            p.ParamKey.PRODUCT_INFO: b"MID-360 emulator".ljust(64, b"\0"),
            p.ParamKey.VERSION_APP: bytes([1, 0, 0, 0]),
            p.ParamKey.CUR_WORK_STATE: bytes([_WORK_STATE.get(work_mode, p.WorkState.IDLE)]),
            p.ParamKey.LOCAL_TIME_NOW: struct.pack("<Q", self._lidar_now_ns()),
            p.ParamKey.TIME_SYNC_TYPE: bytes([self._time_type]),
            p.ParamKey.FW_TYPE: b"\x01",  # application firmware, not the loader
        }
        for key, ch in _HOST_KEYS.items():
            ep = dests.get(ch)
            if ep is not None:
                values[key] = p.encode_host_ip_value(ep[0], ep[1], self.ports.get(ch, 0))
        params.update(values)
        return params

    # ---------------------------------------------------------------- commands

    def _control_loop(self) -> None:
        sel = selectors.DefaultSelector()
        for name in ("discovery", "command", "broadcast", "push"):
            if name in self._socks:
                sel.register(self._socks[name], selectors.EVENT_READ, name)
        next_push = time.monotonic()
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.05):
                    self._drain(key.fileobj, key.data)  # type: ignore[arg-type]
                now = time.monotonic()
                if now >= next_push:
                    next_push = now + self._push_interval_s
                    self._push_state()
        finally:
            sel.close()

    def _drain(self, sock: socket.socket, name: str) -> None:
        while True:
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if self._unplugged.is_set() or name == "push":
                continue
            self._handle_command(name, data, addr)

    def _handle_command(self, name: str, data: bytes, addr: Endpoint) -> None:
        if addr[0] == self.lidar_ip:
            return  # our own broadcast echo
        try:
            frame = p.decode_command(data)
        except p.ProtocolError as e:
            log.debug("bad command from %s: %s", addr, e)
            self._count(bad_commands=1)
            return
        if frame.cmd_type != p.CmdType.REQUEST:
            return
        self._count(commands_received=1)
        if name in ("discovery", "broadcast"):
            if frame.cmd_id == p.CmdId.DISCOVERY:
                info = p.DiscoveryInfo(
                    0, p.DEVICE_TYPE_MID360, self.serial, self.lidar_ip, self.ports["command"]
                )
                reply = p.encode_command(p.discovery_ack(frame, info))
                self._sendto(
                    self._socks["discovery"], reply, addr, "discovery_replies", "discovery"
                )
            return
        if frame.cmd_id == p.CmdId.SET_PARAMS:
            ack = self._set_params(frame)
        elif frame.cmd_id == p.CmdId.QUERY_PARAMS:
            ack = self._query_params(frame)
        elif frame.cmd_id in (p.CmdId.REBOOT, p.CmdId.RESET):
            ack = p.ack_for(frame, bytes([p.RetCode.SUCCESS]))
        else:
            ack = p.ack_for(frame, bytes([p.RetCode.FAILURE]))
        self._sendto(self._socks["command"], p.encode_command(ack), addr, "acks_sent", "command")

    def _set_params(self, frame: p.CommandFrame) -> p.CommandFrame:
        try:
            items = p.decode_kv(frame.data)
        except p.ProtocolError:
            return p.set_params_ack(frame, p.RetCode.PARAM_INVALID_LENGTH, 0)
        if not items:
            return p.set_params_ack(frame, p.RetCode.PARAM_KEY_NUM_ERROR, 0)
        hosts: dict[str, Endpoint] = {}
        for key, value in items.items():  # validate all, then apply all
            if key >= 0x8000:
                return p.set_params_ack(frame, p.RetCode.PARAM_READ_ONLY, key)
            if key == p.ParamKey.LIDAR_IP_CFG:
                return p.set_params_ack(frame, p.RetCode.NOT_PERMIT_NOW, key)
            if key in _ONE_BYTE_KEYS:
                if len(value) != 1:
                    return p.set_params_ack(frame, p.RetCode.PARAM_INVALID_LENGTH, key)
                if value[0] not in _ONE_BYTE_KEYS[key]:
                    return p.set_params_ack(frame, p.RetCode.OUT_OF_RANGE, key)
            if key in _HOST_KEYS:
                try:
                    ep = p.decode_host_ip_value(value)
                except p.ProtocolError:
                    return p.set_params_ack(frame, p.RetCode.PARAM_INVALID_LENGTH, key)
                if not self._allow_non_loopback and not _is_loopback(ep.ip):
                    log.error("refusing host endpoint %s:%d (not loopback)", ep.ip, ep.host_port)
                    return p.set_params_ack(frame, p.RetCode.OUT_OF_RANGE, key)
                hosts[_HOST_KEYS[key]] = (ep.ip, ep.host_port)
        with self._lock:
            for key, value in items.items():
                self._set_keys.add(key)
                if key == p.ParamKey.PCL_DATA_TYPE:
                    self._data_type = value[0]
                elif key == p.ParamKey.WORK_MODE:
                    self._work_mode = value[0]
                elif key == p.ParamKey.IMU_DATA_EN:
                    self._imu_enabled = bool(value[0])
                elif key not in _HOST_KEYS:
                    self._params[key] = bytes(value)
            self._dests.update(hosts)
        log.debug("set %s", {f"0x{k:04X}": v.hex() for k, v in items.items()})
        return p.set_params_ack(frame, p.RetCode.SUCCESS, 0)

    def _query_params(self, frame: p.CommandFrame) -> p.CommandFrame:
        try:
            keys = p.decode_query_keys(frame.data)
        except p.ProtocolError:
            return p.query_ack(frame, p.RetCode.PARAM_INVALID_LENGTH, {})
        values = self._param_values()
        return p.query_ack(frame, p.RetCode.SUCCESS, {k: values[k] for k in keys if k in values})

    def _push_state(self) -> None:
        with self._lock:
            dest = self._dests["push"]
        if dest is None or self._unplugged.is_set() or "push" not in self._socks:
            return
        values = self._param_values()
        keys = (
            p.ParamKey.PCL_DATA_TYPE,
            p.ParamKey.PATTERN_MODE,
            p.ParamKey.STATE_INFO_HOST_IP_CFG,
            p.ParamKey.POINT_DATA_HOST_IP_CFG,
            p.ParamKey.IMU_DATA_HOST_IP_CFG,
            p.ParamKey.WORK_MODE,
            p.ParamKey.IMU_DATA_EN,
            p.ParamKey.SN,
            p.ParamKey.CUR_WORK_STATE,
            p.ParamKey.LOCAL_TIME_NOW,
            p.ParamKey.TIME_SYNC_TYPE,
            p.ParamKey.FW_TYPE,
        )
        frame = p.push_message(self._push_seq, {k: values[k] for k in keys if k in values})
        self._push_seq = (self._push_seq + 1) & 0xFFFF
        self._sendto(self._socks["push"], p.encode_command(frame), dest, "push_sent", "push")

    # ---------------------------------------------------------------- streaming

    def _sampling(self) -> bool:
        with self._lock:
            return self._work_mode == p.WorkMode.NORMAL and self._dests["point"] is not None

    def _stream_loop(self) -> None:
        try:
            self._stream()
        except Exception:
            log.exception("emulator stream stopped by an error")
        finally:
            self._finished.set()

    def _stream(self) -> None:
        fast = self._rate <= 0 or math.isinf(self._rate)
        heap: list[tuple[int, int, PointChunk | _ImuEvent]] = []
        order = itertools.count()
        lookahead: LidarSweep | ImuSample | None = next(self._source, None)
        if lookahead is None:
            return
        if self._time_type == p.TimeType.NO_SYNC:
            self._ts_offset_ns = self._lidar_time_origin_ns - lookahead.t_ns
        else:
            self._ts_offset_ns = 0
        wall0: float | None = None  # wall time at which source time src0 is due
        src0 = lookahead.t_ns
        while not self._stop.is_set():
            while lookahead is not None and (not heap or lookahead.t_ns <= heap[0][0]):
                if isinstance(lookahead, LidarSweep):
                    for t, ev in sweep_to_packets(lookahead):
                        heapq.heappush(heap, (t, next(order), ev))
                else:
                    acc_g = np.asarray(lookahead.accel_mps2, np.float64) / p.STANDARD_GRAVITY_MPS2
                    ev = _ImuEvent(np.asarray(lookahead.gyro_radps, np.float64), acc_g)
                    heapq.heappush(heap, (lookahead.t_ns, next(order), ev))
                lookahead = next(self._source, None)
            if not heap:
                break
            t_src = heap[0][0]
            if not self._sampling():  # standby, or no host yet: the source waits
                wall0 = None
                self._stop.wait(0.01)
                continue
            if wall0 is None:
                wall0, src0 = time.monotonic(), t_src
            if not fast:
                delay = wall0 + (t_src - src0) * 1e-9 / self._rate - time.monotonic()
                if delay > 0:
                    self._stop.wait(min(delay, 0.05))
                    continue
            _, _, ev = heapq.heappop(heap)
            self._emit(t_src, ev)

    def _emit(self, t_src_ns: int, ev: PointChunk | _ImuEvent) -> None:
        ts = t_src_ns + (self._ts_offset_ns or 0)
        channel = "point" if isinstance(ev, PointChunk) else "imu"
        with self._lock:
            if channel == "imu" and not self._imu_enabled:
                return
            dest = self._dests[channel]
            data_type = self._data_type
            udp_cnt = self._udp_cnt[channel]
            self._udp_cnt[channel] = (udp_cnt + 1) & 0xFFFF
        if isinstance(ev, PointChunk):
            pkt = p.encode_point_packet(
                ev.xyz_m,
                ev.reflectivity,
                ev.tag,
                timestamp_ns=ts,
                time_interval_100ns=ev.time_interval_100ns,
                udp_cnt=udp_cnt,
                data_type=data_type,
                time_type=self._time_type,
                frame_cnt=ev.frame_cnt,
            )
        else:
            pkt = p.encode_imu_packet(
                ev.gyro_radps,
                ev.acc_g,
                timestamp_ns=ts,
                udp_cnt=udp_cnt,
                time_type=self._time_type,
            )
        if dest is None:
            return
        if self._unplugged.is_set():
            self._count(lost_unplugged=1)
            return
        counter = "point_packets_sent" if channel == "point" else "imu_packets_sent"
        if self._sendto(self._socks[channel], pkt, dest, counter, channel) and channel == "point":
            self._count(points_sent=len(ev.xyz_m))  # type: ignore[union-attr]
