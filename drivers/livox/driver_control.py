"""The Mid-360 driver's control thread: discovery and configuration over the command port.

:class:`ControlThread` is a part of :class:`~drivers.livox.driver.Mid360Driver` (a base
class sharing its state): it discovers the lidar by unicast, sets the host endpoints, point
data type, IMU and work mode with retries, queries its state, and does it all again when data
stops, so a lidar that comes back is picked up without a restart.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator

from drivers.config import LidarConfig
from drivers.livox.command_frame import CommandFrame, encode_command
from drivers.livox.commands import (
    DEVICE_TYPE_MID360,
    DiscoveryInfo,
    ParamKey,
    RetCode,
    WorkMode,
    decode_query_ack_data,
    decode_set_ack_data,
    discovery_request,
    enable_imu_request,
    query_request,
    set_host_endpoints_request,
    set_point_data_type_request,
    set_work_mode_request,
)
from drivers.livox.errors import ProtocolError

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 0.3
COMMAND_ATTEMPTS = 3
DISCOVERY_ATTEMPTS = 2


class ControlThread:
    """The control thread's half of Mid360Driver; ``_control_loop`` is the thread's body.

    The state it shares with the driver and its IO thread is set up by Mid360Driver.__init__
    and start(); the annotations below list what is used here.
    """

    config: LidarConfig
    _host_ip: str
    _lidar_ip: str
    _host_ports: dict[str, int]
    _lidar_ports: dict[str, int]
    _cmd_port: int  # the discovery ACK may name another one
    _retry_s: float
    _socks: dict[str, socket.socket]
    _stop: threading.Event
    _configured: threading.Event
    _configured_at: float
    _lock: threading.Lock
    _ack_cond: threading.Condition  # the IO thread files ACKs and discovery answers here
    _acks: dict[int, CommandFrame]
    _discovered: DiscoveryInfo | None
    _seq: Iterator[int]
    _serial: str | None
    _connected: bool
    _count_error: Callable[[str, str], None]  # Mid360Driver's helper
    _on_state: Callable[[dict[int, bytes]], None]  # the IO thread's

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
            ack = self._request(lambda seq: query_request(seq, [ParamKey.SN]))
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
                lambda seq: set_host_endpoints_request(
                    seq,
                    self._host_ip,
                    state=(ports[0]["push"], ports[1]["push"]),
                    point=(ports[0]["point"], ports[1]["point"]),
                    imu=(ports[0]["imu"], ports[1]["imu"]),
                ),
            ),
            (
                "point data type",
                lambda seq: set_point_data_type_request(seq, cfg.point_data_type),
            ),
            ("IMU", lambda seq: enable_imu_request(seq, cfg.imu_enabled)),
            ("work mode", lambda seq: set_work_mode_request(seq, WorkMode.NORMAL)),
        ]
        for what, build in steps:
            ack = self._request(build)
            if ack is None:
                return False
            try:
                ret, key = decode_set_ack_data(ack.data)
            except ProtocolError as err:
                self._count_error(err.kind, f"set ACK: {err}")
                return False
            if ret != RetCode.SUCCESS:
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

    def _discover(self) -> DiscoveryInfo | None:
        sock = self._socks.get("discovery")
        if sock is None:
            return None
        for _ in range(DISCOVERY_ATTEMPTS):
            with self._ack_cond:
                self._discovered = None
            frame = encode_command(discovery_request(self._next_seq()))
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
                if info.ret_code != 0 or info.dev_type != DEVICE_TYPE_MID360:
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

    def _request(self, build) -> CommandFrame | None:  # build: seq -> CommandFrame
        sock = self._socks.get("command")
        if sock is None:
            return None
        for _ in range(COMMAND_ATTEMPTS):
            request = build(self._next_seq())
            try:
                sock.sendto(encode_command(request), (self._lidar_ip, self._cmd_port))
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
        keys = [ParamKey.SN, ParamKey.CUR_WORK_STATE, ParamKey.FW_TYPE]
        ack = self._request(lambda seq: query_request(seq, keys))
        if ack is None:
            return
        try:
            ret, items = decode_query_ack_data(ack.data)
        except ProtocolError as err:
            self._count_error(err.kind, f"query ACK: {err}")
            return
        if ret == RetCode.SUCCESS:
            self._on_state(items)
