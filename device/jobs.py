"""The daemon's processing jobs: one session's products at a time, each in its own process.

A scan that was just stopped is processed at once; sessions queued in the background (those
whose processing was cut off by a power loss, a crash or the daemon's stop, and those a user
asks to process again) wait their turn, one at a time, so the scanner stays free to scan.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from device.config import ScannerConfig
from device.processing import ProcessingJob

log = logging.getLogger(__name__)


class ScanBusyError(RuntimeError):
    """The scan cannot be changed now (it is recording or processing)."""


class Jobs:
    """ProcessingJobs by scan id; `on_done(job)` runs when a job's map products are done."""

    def __init__(self, config: ScannerConfig, on_done: Callable[[str, ProcessingJob], None]):
        self.config = config
        self._on_done = on_done
        self._jobs: dict[str, ProcessingJob] = {}
        self._queued: deque[tuple[str, Path]] = deque()
        self._lock = threading.Lock()
        self._closed = False

    def get(self, scan_id: str) -> ProcessingJob | None:
        return self._jobs.get(scan_id)

    def running(self) -> tuple[str, ProcessingJob] | None:
        """(scan id, job) of the job whose map products are being made, if any."""
        return next(((s, j) for s, j in self._jobs.items() if not j.finished.is_set()), None)

    def busy(self, scan_id: str) -> str | None:
        """Why this scan cannot be deleted or processed again now, or None."""
        job = self._jobs.get(scan_id)
        if any(s == scan_id for s, _ in self._queued):
            return f"{scan_id} is queued for processing"
        if job is not None and not job.finished.is_set():
            return f"{scan_id} is being processed"
        if job is not None and job.training_splat:
            return f"{scan_id}: its splat is being trained"
        return None

    def start(self, scan_id: str, path: Path, live_wait_s: float = 0.0) -> None:
        """Process now (a scan just stopped; its live SLAM may be finishing its submaps for up
        to `live_wait_s`); ScanBusyError if it already is."""
        with self._lock:
            if reason := self.busy(scan_id):
                raise ScanBusyError(reason)
            self._start(scan_id, path, live_wait_s)

    def queue(self, scan_id: str, path: Path) -> None:
        """Process when no other job is making its map; ScanBusyError if it already is."""
        with self._lock:
            if reason := self.busy(scan_id):
                raise ScanBusyError(reason)
            self._queued.append((scan_id, path))
            self._next()

    def forget(self, scan_id: str) -> None:
        self._jobs.pop(scan_id, None)

    def close(self) -> None:
        """Cut every job off: their sessions stay `processing` and are queued again at the
        next start, so a stop never waits for products."""
        with self._lock:
            self._closed = True
            self._queued.clear()
            jobs = list(self._jobs.values())
        for job in jobs:
            job.kill()

    def _start(self, scan_id: str, path: Path, live_wait_s: float = 0.0) -> None:
        def finished(job: ProcessingJob) -> None:
            if job.error:
                log.error("processing %s failed: %s", scan_id, job.error)
            self._on_done(scan_id, job)
            with self._lock:
                self._next()

        self._jobs[scan_id] = ProcessingJob(path, self.config, finished, live_wait_s).start()

    def _next(self) -> None:
        if self._closed or not self._queued or self.running() is not None:
            return
        scan_id, path = self._queued.popleft()
        log.info("processing %s (queued)", scan_id)
        self._start(scan_id, path)
