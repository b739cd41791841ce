"""The scan in progress: its recorder, what live SLAM said of it, and how its sensors did.

The daemon keeps one `ActiveScan` from the press that starts a scan to the close of its
recording. Closing it writes each sensor's messages and losses over the scan into session.json
(from the sensors' health at the start and at the end) and closes the recording.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from device.live import LiveBuffer
from device.slam_worker import Step
from device.status import RecordingReport, SlamReport
from drivers.sessions.manifest import SessionManifest
from drivers.sessions.marks import Mark
from drivers.sessions.recorder import SessionRecorder
from drivers.source import Sensor, SensorHealth

log = logging.getLogger(__name__)


@dataclass
class ActiveScan:
    recorder: SessionRecorder
    health_at_start: dict[Sensor, SensorHealth]
    started_monotonic: float = field(default_factory=time.monotonic)
    first_pose_monotonic: float | None = None
    last_step: Step | None = None
    slam_error: str | None = None
    stop_requested: bool = False  # the storage ran low: the daemon stops it once
    marks: list[Mark] = field(default_factory=list)  # taken so far (also in marks.jsonl)

    @property
    def id(self) -> str:
        return self.recorder.manifest.id

    @property
    def dir(self) -> Path:
        return self.recorder.dir

    @property
    def duration_s(self) -> float:
        return time.monotonic() - self.started_monotonic

    def on_step(self, step: Step) -> None:
        if self.first_pose_monotonic is None:
            self.first_pose_monotonic = time.monotonic()
        self.last_step = step

    def recording_report(self) -> RecordingReport:
        st = self.recorder.stats
        return RecordingReport(
            round(self.duration_s, 2), st.bytes_written, st.messages, st.write_errors
        )

    def slam_report(self, live: LiveBuffer, dropped_frames: int) -> SlamReport:
        first_pose_s = None
        if self.first_pose_monotonic is not None:
            first_pose_s = self.first_pose_monotonic - self.started_monotonic
        return SlamReport.of(self.last_step, live, dropped_frames, first_pose_s, self.slam_error)

    def close(self, health_now: dict[Sensor, SensorHealth], reason: str) -> SessionManifest:
        """Each sensor's messages and losses over the scan into session.json, then close the
        recording (-> the manifest as closed: `recorded`, or `failed` after a write error)."""
        sensors = []
        for info in self.recorder.manifest.sensors:
            h, h0 = health_now.get(Sensor(info.name)), self.health_at_start.get(Sensor(info.name))
            if h is not None and h0 is not None:
                info = info.model_copy(
                    update={
                        "connected": h.connected,
                        "messages": h.messages - h0.messages,
                        "drops": h.drops - h0.drops,
                    }
                )
            sensors.append(info)
        rec = self.recorder
        rec.manifest = rec.manifest.model_copy(update={"sensors": sensors})
        manifest = rec.close()
        log.info("scan %s %s: %s, %.1f s", self.id, reason, manifest.state, manifest.duration_s)
        return manifest
