"""The recorder: every frame goes to raw.mcap as it arrives, flushed and fsynced every second.

A `kill -9` or a power cut loses at most the last second: each flush closes the MCAP chunk in
progress, so everything before it is a complete chunk on disk, which `recover_session` turns
back into a readable file. session.json says `recording` until the recorder closes it.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from drivers.sessions.manifest import (
    RECORDING,
    Calibration,
    ClockPair,
    SensorInfo,
    SessionManifest,
    SessionState,
    write_manifest,
)
from drivers.sessions.recording import RecordingWriter
from drivers.source import Sensor, Tagged

log = logging.getLogger(__name__)


@dataclass
class RecorderStats:
    messages: int = 0
    bytes_written: int = 0
    lidar_sweeps: int = 0
    lidar_points: int = 0
    imu_samples: int = 0
    images: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    flushes: int = 0
    write_errors: int = 0
    dropped: int = 0  # frames not written after a write error
    by_topic: dict[str, int] = field(default_factory=dict)


class SessionRecorder:
    """Records frames into a new session directory. A plain object: call write() from one thread."""

    def __init__(
        self,
        session_dir: Path,
        session_id: str,
        calibration: Calibration,
        sensors: list[SensorInfo],
        config_snapshot: dict | None = None,
        source: str = "device",
        flush_period_s: float = 1.0,
        min_free_bytes: int = 0,
    ) -> None:
        self.dir = Path(session_dir)
        self.dir.mkdir(parents=True, exist_ok=False)
        self.flush_period_s = flush_period_s
        self.min_free_bytes = min_free_bytes
        self.disk_low = False  # set once free space falls under min_free_bytes: stop the scan
        self.write_error: OSError | None = None
        self.stats = RecorderStats()
        self.manifest = SessionManifest(
            id=session_id,
            state=SessionState.recording,
            source=source,
            start_ns=0,
            end_ns=0,
            sensors=sensors,
            calibration=calibration,
            clock=ClockPair.now(),
            config=config_snapshot or {},
        )
        write_manifest(self.dir, self.manifest)
        self._writer = RecordingWriter(self.dir / RECORDING, chunk_size=1024 * 1024)
        self._last_flush = time.monotonic()
        self.closed = False

    def write(self, tagged: Tagged) -> None:
        """Append one frame to its sensor's topic; flushes and fsyncs when a second has passed
        since the last time.

        A write error (a full disk, a pulled card) never raises: it is logged once, counted,
        and sets `disk_low` so the owner stops the scan; what was flushed before stays readable.
        """
        st = self.stats
        if self.write_error is not None:
            st.dropped += 1
            return
        frame = tagged.frame
        try:
            self._writer.write(tagged)
            if tagged.sensor == Sensor.lidar:
                st.lidar_sweeps += 1
                st.lidar_points += len(frame)
            elif tagged.sensor == Sensor.camera:
                st.images += 1
            else:
                st.imu_samples += 1
            st.messages += 1
            st.first_ns = frame.t_ns if st.first_ns is None else min(st.first_ns, frame.t_ns)
            st.last_ns = frame.t_ns if st.last_ns is None else max(st.last_ns, frame.t_ns)
            if time.monotonic() - self._last_flush >= self.flush_period_s:
                self.flush()
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.write_error = exc
        self.stats.write_errors += 1
        self.disk_low = True
        log.error(
            "%s: recording stopped by a write error (%s); what was flushed is safe", self.dir, exc
        )

    def write_camera_info(self, t_ns: int, info: dict) -> None:
        self._writer.write_camera_info(t_ns, info)

    def flush(self) -> None:
        """Close the chunk in progress and make everything so far durable."""
        self._writer.flush()
        os.fsync(self._writer.fileno())
        self._last_flush = time.monotonic()
        self.stats.flushes += 1
        self.stats.bytes_written = (self.dir / RECORDING).stat().st_size
        if self.min_free_bytes and shutil.disk_usage(self.dir).free < self.min_free_bytes:
            if not self.disk_low:
                log.warning(
                    "%s: free space under %d MB: the scan must stop",
                    self.dir,
                    self.min_free_bytes // 1_000_000,
                )
            self.disk_low = True

    def close(self, state: SessionState = SessionState.recorded) -> SessionManifest:
        """Finish the MCAP (summary and index) and mark the session closed.

        If the file cannot be finished (the disk is full), the session stays `recording` and
        the next start recovers it (recovery.recover_all)."""
        if self.closed:
            return self.manifest
        self.closed = True
        try:
            self._writer.close()
        except OSError as exc:
            self._fail(exc)
            return self.manifest
        st = self.stats
        self.manifest = self.manifest.model_copy(
            update={
                "state": SessionState.failed if self.write_error else state,
                "start_ns": st.first_ns or 0,
                "end_ns": st.last_ns or 0,
                "stats": {
                    "lidar_sweeps": st.lidar_sweeps,
                    "lidar_points": st.lidar_points,
                    "imu_samples": st.imu_samples,
                    "images": st.images,
                    "bytes": (self.dir / RECORDING).stat().st_size,
                    "write_errors": st.write_errors,
                    "dropped": st.dropped,
                },
            }
        )
        try:
            write_manifest(self.dir, self.manifest)
        except OSError as exc:
            self._fail(exc)
        return self.manifest
