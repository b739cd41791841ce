"""The emulated Mid-360's command side: discovery, set/query parameters, push messages.

:class:`CommandServer` is a part of :class:`~drivers.livox.emulator.Mid360Emulator` (a base
class sharing its state): on its control thread it answers discovery and commands with the
ACKs a Mid-360 sends, validating and applying set requests (work mode, IMU enable, point data
type, host endpoints), answers queries from the lidar's state and pushes that state (~1 Hz).
"""

from __future__ import annotations

import logging
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from ipaddress import IPv4Address

from drivers.livox.command_frame import (
    CmdId,
    CmdType,
    CommandFrame,
    decode_command,
    encode_command,
)
from drivers.livox.commands import (
    DEVICE_TYPE_MID360,
    DiscoveryInfo,
    ParamKey,
    RetCode,
    WorkMode,
    WorkState,
    ack_for,
    decode_host_ip_value,
    decode_kv,
    decode_query_keys,
    discovery_ack,
    encode_host_ip_value,
    push_message,
    query_ack,
    set_params_ack,
)
from drivers.livox.errors import ProtocolError

log = logging.getLogger(__name__)

Endpoint = tuple[str, int]

_WORK_STATE = {
    WorkMode.NORMAL: WorkState.SAMPLING,
    WorkMode.WAKE_UP: WorkState.READY,
    WorkMode.SLEEP: WorkState.IDLE,
}
_ONE_BYTE_KEYS = {
    ParamKey.PCL_DATA_TYPE: {1, 2, 3},
    ParamKey.PATTERN_MODE: {0, 1, 2},
    ParamKey.DUAL_EMIT_EN: {0, 1},
    ParamKey.POINT_SEND_EN: {0, 1},
    ParamKey.WORK_MODE: {1, 2, 3},
    ParamKey.GLASS_HEAT: {0, 1, 2, 3},
    ParamKey.IMU_DATA_EN: {0, 1},
}
_HOST_KEYS = {
    ParamKey.STATE_INFO_HOST_IP_CFG: "push",
    ParamKey.POINT_DATA_HOST_IP_CFG: "point",
    ParamKey.IMU_DATA_HOST_IP_CFG: "imu",
    ParamKey.CTL_HOST_IP_CFG: "ctl",
    ParamKey.LOG_HOST_IP_CFG: "log",
}


def is_loopback(ip: str) -> bool:
    """Whether ip is in 127.0.0.0/8 (by default the emulator sends nowhere else)."""
    try:
        return IPv4Address(ip).is_loopback
    except ValueError:
        return False


class CommandServer:
    """The command side of Mid360Emulator; ``_control_loop`` is its control thread's body.

    The lidar's state it shares with the emulator and its streaming thread is set up by
    Mid360Emulator.__init__ and start(); the annotations below list what is used here.
    """

    lidar_ip: str
    serial: str
    ports: dict[str, int]
    _time_type: int
    _push_interval_s: float
    _allow_non_loopback: bool
    _lock: threading.Lock
    _work_mode: int
    _imu_enabled: bool
    _data_type: int
    _params: dict[int, bytes]  # other keys a host has set, reported back as set
    _dests: dict[str, Endpoint | None]
    _set_keys: set[int]
    _unplugged: threading.Event
    _stop: threading.Event
    _push_seq: int
    _socks: dict[str, socket.socket]
    _count: Callable[..., None]  # Mid360Emulator's helpers
    _sendto: Callable[[socket.socket, bytes, Endpoint, str, str], bool]
    _lidar_now_ns: Callable[[], int]

    def _param_values(self) -> dict[int, bytes]:
        """Every key the emulator can report, with its current value."""
        with self._lock:
            work_mode, imu, data_type = self._work_mode, self._imu_enabled, self._data_type
            dests = dict(self._dests)
            params = dict(self._params)
        values: dict[int, bytes] = {
            ParamKey.PCL_DATA_TYPE: bytes([data_type]),
            ParamKey.LIDAR_IP_CFG: socket.inet_aton(self.lidar_ip)
            + socket.inet_aton("255.0.0.0")
            + socket.inet_aton(self.lidar_ip),
            ParamKey.WORK_MODE: bytes([work_mode]),
            ParamKey.IMU_DATA_EN: bytes([int(imu)]),
            ParamKey.SN: self.serial.encode("ascii").ljust(16, b"\0"),
            ParamKey.PRODUCT_INFO: b"MID-360 emulator".ljust(64, b"\0"),
            ParamKey.VERSION_APP: bytes([1, 0, 0, 0]),
            ParamKey.CUR_WORK_STATE: bytes([_WORK_STATE.get(work_mode, WorkState.IDLE)]),
            ParamKey.LOCAL_TIME_NOW: struct.pack("<Q", self._lidar_now_ns()),
            ParamKey.TIME_SYNC_TYPE: bytes([self._time_type]),
            ParamKey.FW_TYPE: b"\x01",  # application firmware, not the loader
        }
        for key, ch in _HOST_KEYS.items():
            ep = dests.get(ch)
            if ep is not None:
                values[key] = encode_host_ip_value(ep[0], ep[1], self.ports.get(ch, 0))
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
            frame = decode_command(data)
        except ProtocolError as e:
            log.debug("bad command from %s: %s", addr, e)
            self._count(bad_commands=1)
            return
        if frame.cmd_type != CmdType.REQUEST:
            return
        self._count(commands_received=1)
        if name in ("discovery", "broadcast"):
            if frame.cmd_id == CmdId.DISCOVERY:
                info = DiscoveryInfo(
                    0, DEVICE_TYPE_MID360, self.serial, self.lidar_ip, self.ports["command"]
                )
                reply = encode_command(discovery_ack(frame, info))
                self._sendto(
                    self._socks["discovery"], reply, addr, "discovery_replies", "discovery"
                )
            return
        if frame.cmd_id == CmdId.SET_PARAMS:
            ack = self._set_params(frame)
        elif frame.cmd_id == CmdId.QUERY_PARAMS:
            ack = self._query_params(frame)
        elif frame.cmd_id in (CmdId.REBOOT, CmdId.RESET):
            ack = ack_for(frame, bytes([RetCode.SUCCESS]))
        else:
            ack = ack_for(frame, bytes([RetCode.FAILURE]))
        self._sendto(self._socks["command"], encode_command(ack), addr, "acks_sent", "command")

    def _set_params(self, frame: CommandFrame) -> CommandFrame:
        try:
            items = decode_kv(frame.data)
        except ProtocolError:
            return set_params_ack(frame, RetCode.PARAM_INVALID_LENGTH, 0)
        if not items:
            return set_params_ack(frame, RetCode.PARAM_KEY_NUM_ERROR, 0)
        hosts: dict[str, Endpoint] = {}
        for key, value in items.items():  # validate all, then apply all
            if key >= 0x8000:
                return set_params_ack(frame, RetCode.PARAM_READ_ONLY, key)
            if key == ParamKey.LIDAR_IP_CFG:
                return set_params_ack(frame, RetCode.NOT_PERMIT_NOW, key)
            if key in _ONE_BYTE_KEYS:
                if len(value) != 1:
                    return set_params_ack(frame, RetCode.PARAM_INVALID_LENGTH, key)
                if value[0] not in _ONE_BYTE_KEYS[key]:
                    return set_params_ack(frame, RetCode.OUT_OF_RANGE, key)
            if key in _HOST_KEYS:
                try:
                    ep = decode_host_ip_value(value)
                except ProtocolError:
                    return set_params_ack(frame, RetCode.PARAM_INVALID_LENGTH, key)
                if not self._allow_non_loopback and not is_loopback(ep.ip):
                    log.error("refusing host endpoint %s:%d (not loopback)", ep.ip, ep.host_port)
                    return set_params_ack(frame, RetCode.OUT_OF_RANGE, key)
                hosts[_HOST_KEYS[key]] = (ep.ip, ep.host_port)
        with self._lock:
            for key, value in items.items():
                self._set_keys.add(key)
                if key == ParamKey.PCL_DATA_TYPE:
                    self._data_type = value[0]
                elif key == ParamKey.WORK_MODE:
                    self._work_mode = value[0]
                elif key == ParamKey.IMU_DATA_EN:
                    self._imu_enabled = bool(value[0])
                elif key not in _HOST_KEYS:
                    self._params[key] = bytes(value)
            self._dests.update(hosts)
        log.debug("set %s", {f"0x{k:04X}": v.hex() for k, v in items.items()})
        return set_params_ack(frame, RetCode.SUCCESS, 0)

    def _query_params(self, frame: CommandFrame) -> CommandFrame:
        try:
            keys = decode_query_keys(frame.data)
        except ProtocolError:
            return query_ack(frame, RetCode.PARAM_INVALID_LENGTH, {})
        values = self._param_values()
        return query_ack(frame, RetCode.SUCCESS, {k: values[k] for k in keys if k in values})

    def _push_state(self) -> None:
        with self._lock:
            dest = self._dests["push"]
        if dest is None or self._unplugged.is_set() or "push" not in self._socks:
            return
        values = self._param_values()
        keys = (
            ParamKey.PCL_DATA_TYPE,
            ParamKey.PATTERN_MODE,
            ParamKey.STATE_INFO_HOST_IP_CFG,
            ParamKey.POINT_DATA_HOST_IP_CFG,
            ParamKey.IMU_DATA_HOST_IP_CFG,
            ParamKey.WORK_MODE,
            ParamKey.IMU_DATA_EN,
            ParamKey.SN,
            ParamKey.CUR_WORK_STATE,
            ParamKey.LOCAL_TIME_NOW,
            ParamKey.TIME_SYNC_TYPE,
            ParamKey.FW_TYPE,
        )
        frame = push_message(self._push_seq, {k: values[k] for k in keys if k in values})
        self._push_seq = (self._push_seq + 1) & 0xFFFF
        self._sendto(self._socks["push"], encode_command(frame), dest, "push_sent", "push")
