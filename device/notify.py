"""Telling systemd how the daemon is doing (sd_notify), for `Type=notify` and `WatchdogSec=`.

Outside systemd (`NOTIFY_SOCKET` unset: a shell, the tests) every method does nothing. A send
that fails is logged at debug level and never raises: the daemon must not die of its reports.

Use in the daemon:

    notifier = SystemdNotifier()
    interval = notifier.watchdog_interval_s()  # None: no watchdog asked for
    # ... start a thread calling notifier.watchdog() every `interval` s, before slow start-up
    notifier.ready()                      # once the API serves and the sensors are up
    notifier.status("scanning: 12.3 s")   # free text for `systemctl status`
    notifier.stopping()                   # on SIGINT/SIGTERM, before closing the recording
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

import sdnotify

log = logging.getLogger(__name__)


class SystemdNotifier:
    """sd_notify messages to the socket systemd names in `NOTIFY_SOCKET`, read at construction."""

    def __init__(self) -> None:
        self.socket_path: str | None = os.environ.get("NOTIFY_SOCKET") or None
        self._lock = threading.Lock()
        self._notifier: sdnotify.SystemdNotifier | None = None

    @property
    def enabled(self) -> bool:
        """Whether systemd asked for notifications (the daemon runs under Type=notify)."""
        return self.socket_path is not None

    def notify(self, message: str) -> bool:
        """Send one raw message ("READY=1", ...). True when it went out."""
        if self.socket_path is None:
            return False
        with self._lock:
            try:
                if self._notifier is None:
                    # debug=True makes sdnotify raise instead of swallowing errors, so we see them.
                    self._notifier = sdnotify.SystemdNotifier(debug=True)
                self._notifier.notify(message)
                return True
            except Exception as exc:  # OSError mostly; the next call connects afresh
                log.debug("sd_notify %r to %s failed: %s", message, self.socket_path, exc)
                self._close()
                return False

    def ready(self) -> bool:
        return self.notify("READY=1")

    def status(self, text: str) -> bool:
        one_line = " ".join(str(text).split())  # a newline would start another assignment
        return self.notify(f"STATUS={one_line}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for `seconds` more to start or stop (a long recording close, for example)."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={max(0, round(seconds * 1e6))}")

    def watchdog_interval_s(self) -> float | None:
        """How often to call `watchdog()`: half of WatchdogSec=, or None when none is set for us."""
        usec = os.environ.get("WATCHDOG_USEC")
        if not usec:
            return None
        pid = os.environ.get("WATCHDOG_PID")
        if pid and pid.strip() != str(os.getpid()):
            return None  # meant for another process (a parent that exec'd us, say)
        try:
            value = int(usec)
        except ValueError:
            log.debug("WATCHDOG_USEC is not a number: %r", usec)
            return None
        return value / 2e6 if value > 0 else None

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        notifier, self._notifier = self._notifier, None
        sock = getattr(notifier, "socket", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
