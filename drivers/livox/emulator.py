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

Here are its state, lifecycle, test hooks and streaming thread; its command side (discovery,
set/query, push messages) is the base class in :mod:`~drivers.livox.emulator_commands`, and
cutting frames into datagrams is :mod:`~drivers.livox.emulator_packets`.

Safety: by default it refuses to send to any address outside 127.0.0.0/8.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from drivers.frames import ImuSample, LidarSweep
from drivers.livox.commands import ParamKey, WorkMode
from drivers.livox.emulator_commands import CommandServer, Endpoint, is_loopback
from drivers.livox.emulator_packets import (
    ImuEvent,
    PointChunk,
    encode_event,
    imu_event,
    sweep_to_packets,
)
from drivers.livox.packets import DataType, TimeType

log = logging.getLogger(__name__)

Channel = Literal["point", "imu", "push", "command"]


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


class Mid360Emulator(CommandServer):
    """An emulated Mid-360. Use as a context manager, or start() / stop()."""

    def __init__(
        self,
        lidar_ip: str = "127.0.0.2",
        host_ip: str | None = "127.0.0.1",
        *,
        source: Iterable[LidarSweep | ImuSample] = (),
        rate: float = 1.0,
        data_type: int = DataType.CARTESIAN_HIGH,
        serial: str = "47MDL9T0020193",
        discovery_port: int = 56000,
        command_port: int = 56100,
        push_port: int = 56200,
        point_port: int = 56300,
        imu_port: int = 56400,
        host_port_offset: int = 1,
        work_mode: int = WorkMode.NORMAL,
        imu_enabled: bool = True,
        time_type: int = TimeType.NO_SYNC,
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
                if ip is not None and not is_loopback(ip):
                    raise ValueError(f"{ip} is not a loopback address (allow_non_loopback=False)")

        self._lock = threading.Lock()
        self._work_mode = int(work_mode)
        self._imu_enabled = bool(imu_enabled)
        self._data_type = int(data_type)
        self._params: dict[int, bytes] = {ParamKey.PATTERN_MODE: b"\0"}
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
        if not self._allow_non_loopback and not is_loopback(dest[0]):
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

    # ---------------------------------------------------------------- streaming

    def _sampling(self) -> bool:
        with self._lock:
            return self._work_mode == WorkMode.NORMAL and self._dests["point"] is not None

    def _stream_loop(self) -> None:
        try:
            self._stream()
        except Exception:
            log.exception("emulator stream stopped by an error")
        finally:
            self._finished.set()

    def _stream(self) -> None:
        fast = self._rate <= 0 or math.isinf(self._rate)
        heap: list[tuple[int, int, PointChunk | ImuEvent]] = []
        order = itertools.count()
        lookahead: LidarSweep | ImuSample | None = next(self._source, None)
        if lookahead is None:
            return
        if self._time_type == TimeType.NO_SYNC:
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
                    heapq.heappush(heap, (lookahead.t_ns, next(order), imu_event(lookahead)))
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

    def _emit(self, t_src_ns: int, ev: PointChunk | ImuEvent) -> None:
        ts = t_src_ns + (self._ts_offset_ns or 0)
        channel = "point" if isinstance(ev, PointChunk) else "imu"
        with self._lock:
            if channel == "imu" and not self._imu_enabled:
                return
            dest = self._dests[channel]
            data_type = self._data_type
            udp_cnt = self._udp_cnt[channel]
            self._udp_cnt[channel] = (udp_cnt + 1) & 0xFFFF
        pkt = encode_event(ev, ts, udp_cnt, data_type, self._time_type)
        if dest is None:
            return
        if self._unplugged.is_set():
            self._count(lost_unplugged=1)
            return
        counter = "point_packets_sent" if channel == "point" else "imu_packets_sent"
        if self._sendto(self._socks[channel], pkt, dest, counter, channel) and channel == "point":
            self._count(points_sent=len(ev.xyz_m))  # type: ignore[union-attr]
