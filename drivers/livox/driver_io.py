"""The Mid-360 driver's IO thread: datagrams in, sweeps and IMU samples onto the queue.

:class:`IoThread` is a part of :class:`~drivers.livox.driver.Mid360Driver` (a base class
sharing its state): it drains each socket's burst, batch-decodes point packets and decodes
IMU packets, hands command frames and ACKs to the control thread, updates loss counts, the
clock mapping and the sweep assembler, notices when data stops and keeps the rates.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from drivers.config import LidarConfig
from drivers.frames import ImuSample, LidarSweep
from drivers.livox.command_frame import CmdId, CmdType, CommandFrame, decode_command
from drivers.livox.commands import DiscoveryInfo, ParamKey, decode_discovery_ack_data, decode_kv
from drivers.livox.errors import ProtocolError
from drivers.livox.packet_batch import decode_point_packets
from drivers.livox.packets import decode_imu
from drivers.livox.stream import (
    ClockMapper,
    StreamCounters,
    StreamRates,
    SweepAssembler,
    SweepPoints,
    UdpCntTracker,
)
from drivers.source import Sensor, Tagged

log = logging.getLogger(__name__)

MAX_BURST = 512  # datagrams drained from the point socket per batch decode
BATCH_WAIT_S = 0.005


class IoThread:
    """The IO thread's half of Mid360Driver; ``_io_loop`` is the thread's body.

    The state it shares with the driver and its control thread is set up by
    Mid360Driver.__init__ and start(); the annotations below list what is used here.
    """

    config: LidarConfig
    _socks: dict[str, socket.socket]
    _stop: threading.Event
    _configured: threading.Event
    _lock: threading.Lock
    _ack_cond: threading.Condition  # ACKs and discovery answers go to the control thread
    _acks: dict[int, CommandFrame]
    _discovered: DiscoveryInfo | None
    _counters: StreamCounters
    _rates: StreamRates
    _logged_kinds: set[str]
    _point_cnt: UdpCntTracker
    _imu_cnt: UdpCntTracker
    _clock: ClockMapper
    _sweeps: SweepAssembler
    _sweep_index: int
    _last_data_ns: int | None
    _connected: bool
    _serial: str | None
    _work_state: int | None
    _timeout_ns: int
    _put: Callable[[object], None]  # Mid360Driver's helpers
    _count_error: Callable[[str, str], None]
    _expected: Callable[[str], tuple[str, int]]

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
        batch = decode_point_packets(datagrams, errors="skip")
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

    def _emit_sweep(self, s: SweepPoints) -> None:
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
            pkt = decode_imu(data)
        except ProtocolError as err:
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
            frame = decode_command(data)
        except ProtocolError as err:
            self._count_error(err.kind, f"{name} frame: {err}")
            return
        try:
            if name == "discovery":
                if frame.cmd_id == CmdId.DISCOVERY and frame.cmd_type == CmdType.ACK:
                    info = decode_discovery_ack_data(frame.data)
                    with self._ack_cond:
                        self._discovered = info
                        self._ack_cond.notify_all()
            elif frame.cmd_id == CmdId.PUSH:
                self._on_state(decode_kv(frame.data))
            elif frame.cmd_type == CmdType.ACK:
                with self._ack_cond:
                    self._acks[frame.seq] = frame
                    self._ack_cond.notify_all()
        except ProtocolError as err:
            self._count_error(err.kind, f"{name} frame data: {err}")

    def _on_state(self, items: dict[int, bytes]) -> None:
        with self._lock:
            if ParamKey.SN in items:
                self._serial = items[ParamKey.SN].split(b"\0", 1)[0].decode("ascii", "replace")
            if len(items.get(ParamKey.CUR_WORK_STATE, b"")) == 1:
                self._work_state = items[ParamKey.CUR_WORK_STATE][0]

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

    def _update_rates(self, prev: StreamCounters, dt_ns: int) -> StreamCounters:
        with self._lock:
            c = replace(self._counters)
            dt = max(dt_ns, 1) * 1e-9
            self._rates = StreamRates(
                point_rate_hz=(c.points - prev.points) / dt,
                sweep_rate_hz=(c.sweeps - prev.sweeps) / dt,
                imu_rate_hz=(c.imu_samples - prev.imu_samples) / dt,
                packet_rate_hz=(
                    c.point_packets + c.imu_packets - prev.point_packets - prev.imu_packets
                )
                / dt,
            )
        return c
