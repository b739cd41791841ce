"""Serving the app: the token, uvicorn on a pre-bound socket, and the systemd watchdog.

`ApiServer.run()` blocks in the main thread (`scanner run`, `scanner demo`; Ctrl-C or SIGTERM
ends it); `start_in_thread()` is for tests and benchmarks. The watchdog is fed from the event
loop, and only while the daemon's ingest thread and SLAM worker are alive, so a hung loop or a
dead worker gets the service restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from device.config import ScannerConfig
from device.daemon import Daemon

log = logging.getLogger(__name__)

TOKEN_FILE = "api_token"
ENV_TOKEN = "SCANNER_API_TOKEN"


def resolve_token(config: ScannerConfig) -> tuple[str, str]:
    """-> (token, where it came from): SCANNER_API_TOKEN, the config, else a kept random one."""
    if os.environ.get(ENV_TOKEN):
        return os.environ[ENV_TOKEN], ENV_TOKEN
    if config.api.token:
        return config.api.token, "config api.token"
    path = Path(config.data_dir) / TOKEN_FILE
    if path.is_file():
        token = path.read_text().strip()
        if token:
            return token, str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    log.warning("made a new API token in %s", path)
    return token, str(path)


async def feed_watchdog(daemon: Daemon) -> None:
    interval = daemon.notifier.watchdog_interval_s()
    if interval is None:
        return
    while True:
        if daemon.healthy:
            daemon.notifier.watchdog()
        else:
            log.error("not feeding the watchdog: the ingest thread or SLAM worker is down")
        await asyncio.sleep(interval)


class _StoppedBySignalError(Exception):
    pass


def _raise_stop(signum, frame) -> None:
    raise _StoppedBySignalError


class ApiServer:
    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say so, and
        # without it a response in two writes waits 40 ms for the client's delayed ACK
        self.sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(128)
        self.sock.set_inheritable(True)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.app = app
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                ws="websockets-sansio",
                timeout_graceful_shutdown=3,
            )
        )
        self._thread: threading.Thread | None = None
        app.state.exiting = lambda: self.server.should_exit

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM (main thread) or stop(); then return, so that the caller
        closes the daemon (uvicorn re-raises the signal after its graceful shutdown, which
        would otherwise end the process before any cleanup)."""
        main = threading.current_thread() is threading.main_thread()
        if main:
            previous = signal.signal(signal.SIGTERM, _raise_stop)
        try:
            asyncio.run(self._serve())
        except (_StoppedBySignalError, KeyboardInterrupt):
            pass
        finally:
            if main:
                signal.signal(signal.SIGTERM, previous)

    async def _serve(self) -> None:
        watchdog = asyncio.create_task(feed_watchdog(self.app.state.daemon))
        try:
            await self.server.serve(sockets=[self.sock])
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    def start_in_thread(self, timeout_s: float = 10.0) -> ApiServer:
        self._thread = threading.Thread(target=self.run, name="api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        self.sock.close()
