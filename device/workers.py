"""One base for the daemon's worker processes: live SLAM, the online splat, and processing.

Each worker is a spawned process that reads typed messages (frozen dataclasses) from a bounded
inbox and answers on an outbox, which a thread in the daemon hands to a callback. One place
decides how a worker is born and how it dies:

- it ignores Ctrl-C (that is for the daemon, which stops it) and runs at a lower priority
  (`nice`), so the drivers, the recorder and the API come first;
- it dies with the daemon: a thread in the child waits on the parent's sentinel and exits the
  moment the parent is gone, however it went (Ctrl-C, SIGTERM, kill -9), so no worker is ever
  left running at full CPU;
- `stop()` asks it to quit, kills it if it does not, and never waits on a queue nobody reads.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import multiprocessing.connection
import os
import queue
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Quit:
    """Finish what is owed and exit."""


@dataclass(frozen=True)
class Ready:
    """The worker has started (and compiled or loaded what it needs)."""


@dataclass(frozen=True)
class Exited:
    """The worker process ended without being asked to (the reader says so once)."""

    exitcode: int | None


PR_SET_PDEATHSIG = 1  # prctl(2)


def dies_with_this_process() -> Callable[[], None]:
    """A `preexec_fn` for subprocess.Popen: the child gets SIGTERM when this process dies (the
    kernel's parent-death signal; it survives exec). Start such children from the main thread:
    the signal follows the thread that forked them."""
    parent_pid = os.getpid()

    def preexec() -> None:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _die_with_parent() -> None:
    """Exit as soon as the parent process is gone (its sentinel becomes ready)."""
    parent = mp.parent_process()
    if parent is None:
        return

    def watch() -> None:
        mp.connection.wait([parent.sentinel])
        os._exit(1)  # nobody is left to hand results to; no cleanup can matter

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _child(main: Callable[..., None], name: str, nice: int, *args: Any) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the daemon, which stops us
    if nice:
        os.nice(nice)
    logging.basicConfig(level=logging.WARNING, format=f"%(levelname)s {name}: %(message)s")
    main(*args)


class Worker:
    """A child process running `main(inbox, outbox, *args)`; `on_message` gets what it sends."""

    def __init__(
        self,
        name: str,
        main: Callable[..., None],
        args: tuple = (),
        *,
        nice: int = 0,
        max_queued: int = 0,  # inbox size; 0 = unbounded
        on_message: Callable[[object], None] | None = None,
    ) -> None:
        ctx = mp.get_context("spawn")
        self.name = name
        self.inbox: mp.Queue = ctx.Queue(maxsize=max_queued)
        self.outbox: mp.Queue = ctx.Queue()
        self.process = ctx.Process(
            target=_child,
            args=(main, name, nice, self.inbox, self.outbox, *args),
            name=f"scanner-{name}",
            daemon=True,
        )
        self.dropped = 0  # messages not sent because the worker was behind
        self.ready = threading.Event()
        self._on_message = on_message
        self._reader = threading.Thread(target=self._read, name=f"{name}-results", daemon=True)
        self._stopping = False

    def start(self) -> Worker:
        self.process.start()
        self._reader.start()
        return self

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def send(self, msg: object, timeout_s: float | None = None) -> bool:
        """Queue a message; without a timeout never wait: a full inbox drops it (counted)."""
        try:
            if timeout_s is None:
                self.inbox.put_nowait(msg)
            else:
                self.inbox.put(msg, timeout=timeout_s)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def stop(self, timeout_s: float = 3.0) -> None:
        """Ask it to quit, kill it if it will not, and let go of its queues."""
        self._stopping = True
        with contextlib.suppress(queue.Full, ValueError, OSError):
            self.inbox.put(Quit(), timeout=1.0)
        self.process.join(timeout_s)
        self.kill()
        self.inbox.cancel_join_thread()
        self.inbox.close()
        with contextlib.suppress(ValueError, OSError):
            self.outbox.put(None)  # ends the reader
        if self._reader.is_alive():
            self._reader.join(timeout_s)

    def kill(self) -> None:
        """End it now (a job cut off by the daemon's stop is done again at its next start)."""
        self._stopping = True
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2.0)

    def _read(self) -> None:
        while True:
            try:
                msg = self.outbox.get(timeout=0.5)
            except queue.Empty:
                if self.process.exitcode is not None and self.outbox.empty():
                    if not self._stopping and self.process.exitcode != 0:
                        log.error("the %s worker exited (%s)", self.name, self.process.exitcode)
                    self._deliver(Exited(self.process.exitcode))
                    return
                continue
            except (EOFError, OSError, ValueError):
                return
            if msg is None:
                return
            if isinstance(msg, Ready):
                self.ready.set()
            self._deliver(msg)

    def _deliver(self, msg: object) -> None:
        if self._on_message is None:
            return
        try:
            self._on_message(msg)
        except Exception:
            log.exception("handling a message from the %s worker failed", self.name)


# --- one piece of work in a process of its own (georeferencing, a site) ----------------------


@dataclass(frozen=True)
class JobDone:
    summary: dict


@dataclass(frozen=True)
class JobFailed:
    reason: str


def _job_main(
    inbox, outbox, name: str, run: Callable[..., dict], expected: tuple, args: tuple
) -> None:
    try:
        summary = run(*args)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, expected) else f"{type(exc).__name__}: {exc}"
        log.error("%s failed: %s", name, reason)
        outbox.put(JobFailed(reason))
        return
    outbox.put(JobDone(summary))


class BackgroundJob:
    """`run(*args) -> summary` in a worker process of its own, niced (a scan's drivers,
    recorder and SLAM come first), dying with the daemon. `state` is running, done or failed;
    `summary` and `error` say how (an exception of `expected` types by its message alone)."""

    def __init__(
        self, name: str, run: Callable[..., dict], args: tuple, expected: tuple = ()
    ) -> None:
        self.name = name
        self.state = "running"
        self.error: str | None = None
        self.summary: dict | None = None
        self.finished = threading.Event()
        self.worker = Worker(
            name, _job_main, (name, run, expected, args), nice=10, on_message=self._on_message
        )

    def start(self) -> BackgroundJob:
        self.worker.start()
        return self

    def kill(self) -> None:
        if not self.finished.is_set():
            self.state, self.error = "failed", "cut off by the daemon's stop"
            self.finished.set()
        self.worker.kill()

    def _on_message(self, msg: object) -> None:
        if self.finished.is_set():
            return
        if isinstance(msg, JobDone):
            self.state, self.summary = "done", msg.summary
        elif isinstance(msg, JobFailed):
            self.state, self.error = "failed", msg.reason
        elif isinstance(msg, Exited):
            self.state, self.error = "failed", f"the {self.name} exited ({msg.exitcode})"
        else:
            return
        self.finished.set()
