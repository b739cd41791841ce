"""The camera driver: one capture thread that stamps, encodes and queues `CameraFrame`s.

`CameraDriver` reads the source its config names (`make_source`, see `source_kind`) and puts the
frames in a bounded queue (the oldest is dropped when the consumer falls behind, and counted). A
source that cannot be opened, whose read fails, or whose read blocks for longer than `timeout_s`,
is reported disconnected (logged once per outage, counted once in `errors`); the thread reopens it
every `reopen_interval_s` until it delivers again. Nothing raises to the caller: the reason is in
`status().last_error`. A video file or folder that ends stops the driver cleanly (`finished`), or
starts over with `loop=True`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2

from drivers.camera.files import FolderSource, VideoFileSource
from drivers.camera.source import CameraError, FrameError, FrameSource, RawFrame
from drivers.camera.v4l2 import V4l2Source
from drivers.config import CameraConfig
from drivers.frames import CameraFrame
from drivers.source import Sensor, SensorHealth, Tagged

log = logging.getLogger(__name__)

_BAD_FRAMES_LOGGED = 10  # then further bad frames go to debug


@dataclass(frozen=True, slots=True)
class CameraStatus:
    connected: bool  # frames are arriving (a frame was delivered since the last (re)open)
    frames: int  # frames put in the queue since start
    rate_hz: float  # measured over the last couple of seconds; 0 when stalled
    drops: int  # frames dropped because the queue was full
    errors: int  # bad frames skipped + outages (a failed open / lost source counts once)
    last_frame_age_s: float | None  # since the last frame was queued; None before the first
    last_error: str | None = None  # why the source is (or last was) disconnected or a frame bad
    finished: bool = False  # a video file or folder came to its end (and loop is off)
    kind: str = ""
    source: str = ""


def source_kind(source: str) -> str:
    """ "v4l2" for an index or a path under /dev (or any character device), "folder" for a
    directory, "video" for another file. A path that does not exist (yet) is a video if it has
    a suffix, else a folder."""
    s = source.strip()
    if re.fullmatch(r"\d+", s) or s.startswith("/dev/"):
        return "v4l2"
    path = Path(s)
    if path.is_dir():
        return "folder"
    if path.exists():
        return "v4l2" if path.is_char_device() else "video"
    return "video" if path.suffix else "folder"


def make_source(config: CameraConfig) -> FrameSource:
    """The source `config.source` names (see `source_kind`)."""
    s = config.source.strip()
    kind = source_kind(s)
    if kind == "v4l2":
        return V4l2Source(int(s) if s.isdigit() else s, config)
    if kind == "folder":
        return FolderSource(Path(s))
    return VideoFileSource(Path(s))


class CameraDriver:
    """A camera (or its stand-in) as a stream of `CameraFrame`s; see the module notes.

    `rate` multiplies `config.rate_hz` for video files and folders (0 = as fast as possible);
    `loop` restarts them at their end; `queue_size` bounds the frames waiting for the consumer;
    `source` replaces the one `config.source` names (tests, the digital twin).
    """

    def __init__(
        self,
        config: CameraConfig,
        *,
        rate: float = 1.0,
        loop: bool = False,
        queue_size: int = 8,
        reopen_interval_s: float = 0.5,
        source: FrameSource | None = None,
    ) -> None:
        if rate < 0.0:
            raise ValueError(f"rate must be >= 0, got {rate}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.config = config
        self.rate = rate
        self.loop = loop
        self.reopen_interval_s = reopen_interval_s
        self.source = source if source is not None else make_source(config)

        self._cond = threading.Condition()  # guards everything below
        self._queue: deque[CameraFrame] = deque()
        self._queue_size = queue_size
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
        self._running = False
        self._finished = False
        self._connected = False
        self._outage = False  # an outage is being reported (logged, counted)
        self._outage_since_ns = 0
        self._read_since_ns: int | None = None  # a read is in progress since
        self._frames = 0
        self._drops = 0
        self._errors = 0
        self._bad_frames = 0
        self._last_error: str | None = None
        self._last_frame_ns: int | None = None
        self._emit_times_ns: deque[int] = deque(maxlen=256)

    # lifecycle

    def start(self) -> CameraDriver:
        with self._cond:
            if self._thread is not None:
                raise RuntimeError("CameraDriver can only be started once")
            self._running = True
            self._thread = threading.Thread(target=self._run, name="camera", daemon=True)
            self._watchdog = threading.Thread(
                target=self._watch, name="camera-watchdog", daemon=True
            )
        log.info("camera: %s source %s", self.source.kind, self.source.description)
        self._thread.start()
        self._watchdog.start()
        return self

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop the threads. Frames still queued can be taken with `get` / `frames`. A V4L2 read
        cannot be interrupted: the capture thread then ends when it returns."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        join_s = timeout_s if timeout_s is not None else self.config.timeout_s + 1.0
        for thread in (self._thread, self._watchdog):
            if thread is not None and thread is not threading.current_thread():
                thread.join(join_s)
                if thread.is_alive():
                    log.warning("camera: thread %s still busy after %.1f s", thread.name, join_s)

    def __enter__(self) -> CameraDriver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        with self._cond:
            return self._running

    # consumer side

    def get(self, timeout_s: float | None = None) -> CameraFrame | None:
        """The oldest queued frame; None if none arrives within `timeout_s` (None = wait as long
        as the driver runs) or the driver has stopped / the source has ended and the queue is
        empty."""
        with self._cond:
            self._cond.wait_for(lambda: self._queue or not self._running, timeout_s)
            return self._queue.popleft() if self._queue else None

    def frames(self, timeout_s: float | None = None) -> Iterator[Tagged]:
        """Frames (Sensor.camera) in order until the driver stops, the source ends, or none
        arrives for `timeout_s` (None = wait while the driver runs, through outages)."""
        while (frame := self.get(timeout_s)) is not None:
            yield Tagged(Sensor.camera, frame)

    def close(self) -> None:
        self.stop()

    def health(self) -> dict[Sensor, SensorHealth]:
        st = self.status()
        return {
            Sensor.camera: SensorHealth(st.connected, st.rate_hz, st.drops, st.errors, st.frames)
        }

    def status(self) -> CameraStatus:
        now_ns = time.monotonic_ns()
        window_ns = round(max(2.0, 3.0 / self.config.rate_hz) * 1e9)
        with self._cond:
            recent = [t for t in self._emit_times_ns if now_ns - t <= window_ns]
            rate_hz = 0.0
            if len(recent) >= 2 and recent[-1] > recent[0]:
                rate_hz = (len(recent) - 1) * 1e9 / (recent[-1] - recent[0])
            age_s = None if self._last_frame_ns is None else (now_ns - self._last_frame_ns) * 1e-9
            return CameraStatus(
                connected=self._connected,
                frames=self._frames,
                rate_hz=rate_hz,
                drops=self._drops,
                errors=self._errors,
                last_frame_age_s=age_s,
                last_error=self._last_error,
                finished=self._finished,
                kind=self.source.kind,
                source=self.source.description,
            )

    # capture thread

    def _lost(self, reason: str) -> None:
        """The source is gone (or never came): reported and counted once per outage."""
        with self._cond:
            self._connected = False
            self._last_error = reason
            if self._outage:
                return
            self._outage = True
            self._outage_since_ns = time.monotonic_ns()
            self._errors += 1
        log.warning(
            "camera disconnected: %s; retrying every %.2g s", reason, self.reopen_interval_s
        )

    def _bad_frame(self, reason: str) -> None:
        with self._cond:
            self._errors += 1
            self._bad_frames += 1
            self._last_error = reason
            n = self._bad_frames
        if n <= _BAD_FRAMES_LOGGED:
            log.warning("camera: skipped a bad frame: %s", reason)
            if n == _BAD_FRAMES_LOGGED:
                log.warning("camera: further bad frames are logged at debug level only")
        else:
            log.debug("camera: skipped a bad frame: %s", reason)

    def _emit(self, frame: CameraFrame, host_ns: int) -> None:
        with self._cond:
            if len(self._queue) >= self._queue_size:
                self._queue.popleft()
                self._drops += 1
                if self._drops == 1:
                    log.warning("camera: the consumer falls behind; dropping the oldest frames")
            self._queue.append(frame)
            self._frames += 1
            self._last_frame_ns = host_ns
            self._emit_times_ns.append(host_ns)
            resumed_after_ns = host_ns - self._outage_since_ns if self._outage else None
            self._outage = False
            self._connected = True
            self._cond.notify_all()
        if resumed_after_ns is not None:
            log.info("camera: delivering again after %.1f s", resumed_after_ns * 1e-9)

    def _encode(self, raw: RawFrame) -> bytes:
        if raw.jpeg is not None:
            return raw.jpeg
        if raw.image is None:
            raise FrameError("the source gave neither pixels nor a JPEG")
        try:
            ok, buf = cv2.imencode(
                ".jpg", raw.image, [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality]
            )
        except cv2.error:
            ok = False
        if not ok:
            raise FrameError(f"cannot encode a {raw.image.shape} {raw.image.dtype} image as JPEG")
        return buf.tobytes()

    def _exposure_s(self, raw: RawFrame) -> float:
        if self.config.exposure_us is not None:
            return self.config.exposure_us * 1e-6
        return raw.exposure_s if raw.exposure_s is not None else 0.0

    def _run(self) -> None:
        source = self.source
        paced = source.paced and self.rate > 0.0
        period_ns = round(1e9 / (self.config.rate_hz * self.rate)) if paced else 0
        next_due_ns: int | None = None
        is_open = False
        empty_rounds = 0  # loop mode: rewinds without a frame in between
        try:
            while not self._stop.is_set():
                if not is_open:
                    try:
                        source.open()
                    except CameraError as exc:
                        self._lost(str(exc))
                        self._stop.wait(self.reopen_interval_s)
                        continue
                    is_open = True
                    next_due_ns = None
                try:
                    with self._cond:
                        self._read_since_ns = time.monotonic_ns()
                    try:
                        raw = source.read()
                    finally:
                        with self._cond:
                            self._read_since_ns = None
                    if raw is None:
                        if self.loop and empty_rounds < 2:
                            empty_rounds += 1
                            log.info("camera: %s ended; starting over", source.description)
                            source.rewind()
                            continue
                        log.info("camera: %s ended", source.description)
                        with self._cond:
                            self._finished = True
                        break
                    empty_rounds = 0
                    host_ns = time.monotonic_ns()
                    jpeg = self._encode(raw)
                except FrameError as exc:
                    self._bad_frame(str(exc))
                    continue
                except CameraError as exc:
                    source.close()
                    is_open = False
                    self._lost(str(exc))
                    self._stop.wait(self.reopen_interval_s)
                    continue
                if paced:
                    now_ns = time.monotonic_ns()
                    if next_due_ns is None or now_ns - next_due_ns > period_ns:
                        next_due_ns = now_ns  # first frame, or too far behind to catch up
                    if self._stop.wait(max(0, next_due_ns - now_ns) * 1e-9):
                        break
                    next_due_ns += period_ns
                    host_ns = time.monotonic_ns()
                frame = CameraFrame(
                    t_ns=raw.t_ns if raw.t_ns is not None else host_ns,
                    jpeg=jpeg,
                    width=raw.width,
                    height=raw.height,
                    exposure_s=self._exposure_s(raw),
                )
                self._emit(frame, host_ns)
        except Exception:
            log.exception("camera: capture thread failed")
            with self._cond:
                self._errors += 1
                self._last_error = "capture thread failed (see the log)"
        finally:
            try:
                source.close()
            except Exception:
                log.exception("camera: closing %s failed", source.description)
            with self._cond:
                self._running = False
                self._connected = False
                self._cond.notify_all()

    def _watch(self) -> None:
        """Declares the source lost when one read blocks for longer than timeout_s (a camera that
        stopped streaming). The capture thread resumes by itself if that read ever returns."""
        timeout_ns = round(self.config.timeout_s * 1e9)
        poll_s = min(0.25, self.config.timeout_s / 4.0)
        while not self._stop.wait(poll_s):
            with self._cond:
                if not self._running:
                    return
                since = self._read_since_ns
            if since is not None and time.monotonic_ns() - since > timeout_ns:
                self._lost(f"{self.source.description}: no frame for {self.config.timeout_s:g} s")
