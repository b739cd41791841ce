"""Tests of device.notify: sd_notify messages, only under systemd, never raising."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.notify import SystemdNotifier


@pytest.fixture(autouse=True)
def no_systemd_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run under systemd sometimes (CI as a service): start from a clean environment."""
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket standing in for systemd's, named in NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def receive(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_without_notify_socket_everything_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_socket(*args: object, **kwargs: object) -> None:
        raise AssertionError("no socket may be made without NOTIFY_SOCKET")

    monkeypatch.setattr("sdnotify.SystemdNotifier", no_socket)
    n = SystemdNotifier()
    assert not n.enabled
    assert n.ready() is False
    assert n.status("hello") is False
    assert n.watchdog() is False
    assert n.stopping() is False
    assert n.extend_timeout(30) is False
    assert n.watchdog_interval_s() is None
    n.close()


def test_empty_notify_socket_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "")
    assert not SystemdNotifier().enabled


def test_messages_reach_the_socket(notify_socket: socket.socket) -> None:
    n = SystemdNotifier()
    assert n.enabled
    assert n.ready()
    assert receive(notify_socket) == "READY=1"
    assert n.status("scanning: 12.3 s")
    assert receive(notify_socket) == "STATUS=scanning: 12.3 s"
    assert n.watchdog()
    assert receive(notify_socket) == "WATCHDOG=1"
    assert n.stopping()
    assert receive(notify_socket) == "STOPPING=1"
    assert n.extend_timeout(1.5)
    assert receive(notify_socket) == "EXTEND_TIMEOUT_USEC=1500000"
    n.close()


def test_status_is_kept_to_one_line(notify_socket: socket.socket) -> None:
    n = SystemdNotifier()
    n.status("error:\nlidar lost\n\tREADY=1")
    assert receive(notify_socket) == "STATUS=error: lidar lost READY=1"
    n.close()


def test_send_errors_never_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    n = SystemdNotifier()
    with caplog.at_level("DEBUG", logger="device.notify"):
        assert n.ready() is False
        assert n.watchdog() is False
    assert "nobody-listens" in caplog.text


def test_reconnects_after_the_socket_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "notify"
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    n = SystemdNotifier()
    assert n.ready() is False  # systemd not listening (yet)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2.0)
        assert n.watchdog()
        assert receive(sock) == "WATCHDOG=1"
    n.close()


def test_abstract_socket_address(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"scanner-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        n = SystemdNotifier()
        assert n.ready()
        assert receive(sock) == "READY=1"
        n.close()


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        ("30000000", None, 15.0),
        ("30000000", "self", 15.0),
        ("30000000", "other", None),  # meant for another process
        ("1000000", "", 0.5),
        ("0", None, None),
        ("junk", None, None),
        (None, None, None),
    ],
)
def test_watchdog_interval(
    monkeypatch: pytest.MonkeyPatch, usec: str | None, pid: str | None, expected: float | None
) -> None:
    if usec is not None:
        monkeypatch.setenv("WATCHDOG_USEC", usec)
    if pid is not None:
        pids = {"self": str(os.getpid()), "other": str(os.getpid() + 1)}
        monkeypatch.setenv("WATCHDOG_PID", pids.get(pid, pid))
    assert SystemdNotifier().watchdog_interval_s() == expected
