"""The camera driver: a USB camera (V4L2 through OpenCV), a video file or a folder of images.

`CameraConfig.source` picks the source (see `source_kind`):

* a V4L2 device, `/dev/video0` (or a udev link under /dev) or an index `0`: opened with
  `cv2.VideoCapture(source, cv2.CAP_V4L2)`, MJPG requested, width, height and fps set, manual or
  auto exposure set (below). The camera paces itself.
* a video file (`cv2.VideoCapture(path)`, FFmpeg): decoded and re-encoded, paced at rate_hz.
* a folder of `.jpg`/`.jpeg`/`.png` images, sorted by name: JPEGs are passed through byte for byte
  (their EXIF ExposureTime, as the digital twin writes it, gives the exposure), PNGs are encoded;
  paced at rate_hz.

`CameraDriver` runs one capture thread that stamps, encodes and queues `CameraFrame`s in a bounded
queue (the oldest is dropped when the consumer falls behind, and counted). A source that cannot be
opened, whose read fails, or whose read blocks for longer than `timeout_s`, is reported
disconnected (logged once per outage, counted once in `errors`); the thread reopens it every
`reopen_interval_s` until it delivers again. Nothing raises to the caller: the reason is in
`status().last_error`. A video file or folder that ends stops the driver cleanly (`finished`), or
starts over with `loop=True`.

Frame times (`CameraFrame.t_ns`, middle of the exposure on the host `time.monotonic_ns()` clock):

* V4L2: OpenCV's `CAP_PROP_POS_MSEC` on the V4L2 backend is the dequeued buffer's kernel
  timestamp. Nearly all capture drivers (uvcvideo included) stamp buffers with CLOCK_MONOTONIC,
  which is the clock of `time.monotonic_ns()`, at the start of the frame (uvcvideo flags them
  TSTAMP_SRC_SOE), so it is free of the USB transfer, decode and scheduling delay that a host
  stamp after `read()` carries (tens of ms, varying). OpenCV cannot tell us which clock the
  driver used, so the buffer time is only trusted when it lies within `DRIVER_TIMESTAMP_MAX_AGE_NS`
  before the host time at `read()`; otherwise (a CLOCK_REALTIME driver, 0) the host time at
  `read()` is used. Either way half the exposure is added / subtracted to reach its middle
  (`frame_time_ns`). Which clock is in use is logged once per open.
* video file / folder: the host time at which the paced frame is emitted (the emulated capture).

Exposure (`CameraFrame.exposure_s`): the config's manual `exposure_us` when set; otherwise what the
source reports (V4L2 `CAP_PROP_EXPOSURE`, read at most once a second; a JPEG's EXIF ExposureTime);
otherwise 0.

V4L2 units: OpenCV passes `CAP_PROP_AUTO_EXPOSURE` and `CAP_PROP_EXPOSURE` raw to the V4L2 controls
(its range normalisation is off by default). `V4L2_CID_EXPOSURE_AUTO` is a menu: 1 = manual,
3 = aperture priority (what UVC cameras call auto). `V4L2_CID_EXPOSURE_ABSOLUTE` counts 100 us, so
`exposure_us = 5000` is programmed as 50; an exposure that is not a multiple of 100 us is rounded
to one (and logged).
"""

from __future__ import annotations

import bisect
import io
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

import cv2
import numpy as np
from PIL import Image

from drivers.config import CameraConfig
from drivers.frames import CameraFrame
from drivers.source import Sensor, SensorHealth, Tagged

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

V4L2_EXPOSURE_UNIT_US = 100  # V4L2_CID_EXPOSURE_ABSOLUTE counts 100 us
V4L2_EXPOSURE_MANUAL = 1  # V4L2_CID_EXPOSURE_AUTO menu entries
V4L2_EXPOSURE_APERTURE_PRIORITY = 3  # "auto" on UVC cameras
DRIVER_TIMESTAMP_MAX_AGE_NS = 1_000_000_000  # a buffer time older than this is not trusted
EXPOSURE_QUERY_PERIOD_NS = 1_000_000_000  # auto exposure: read CAP_PROP_EXPOSURE this often

_JPEG_SOI = b"\xff\xd8\xff"
_JPEG_EOI = b"\xff\xd9"
_EXIF_IFD = 0x8769
_EXIF_EXPOSURE_TIME = 0x829A
_BAD_FRAMES_LOGGED = 10  # then further bad frames go to debug


class CameraError(RuntimeError):
    """The source cannot be opened or stopped delivering; the driver reports it and retries."""


class FrameError(ValueError):
    """One bad frame (a corrupt file, an image that cannot be encoded): counted and skipped."""


@dataclass(frozen=True, slots=True)
class RawFrame:
    """What a source hands the driver: pixels to encode, or a JPEG to pass through."""

    width: int
    height: int
    image: np.ndarray | None = None  # [H, W, 3] BGR uint8 (or [H, W] gray), to be JPEG-encoded
    jpeg: bytes | None = None  # already a JPEG: passed through untouched
    t_ns: int | None = None  # middle of the exposure, host monotonic clock; None: stamp on emit
    exposure_s: float | None = None  # as the source reports it; None if unknown


class FrameSource(Protocol):
    """A source of frames. `open`/`read`/`rewind` raise `CameraError` when the source is lost
    (the driver reopens it) and `read` raises `FrameError` for one bad frame (skipped)."""

    kind: str  # "v4l2", "video", "folder", ...
    description: str  # for logs and status: the device path, file or folder
    paced: bool  # True: the driver paces it at rate_hz; False: it paces itself (a camera)

    def open(self) -> None: ...

    def read(self) -> RawFrame | None:
        """The next frame; None at the end of a finite source."""
        ...

    def rewind(self) -> None:
        """Start again from the first frame (for `loop=True`)."""
        ...

    def close(self) -> None: ...


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


# --- sources ---------------------------------------------------------------------------------


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


def frame_time_ns(
    driver_ms: float,
    host_ns: int,
    exposure_s: float,
    max_age_ns: int = DRIVER_TIMESTAMP_MAX_AGE_NS,
) -> tuple[int, bool]:
    """Middle of the exposure of a V4L2 frame -> (t_ns, whether the driver's time was used).

    `driver_ms` is `CAP_PROP_POS_MSEC` (the buffer's kernel time, start of frame) and `host_ns`
    `time.monotonic_ns()` right after `read()` returned (end of the frame, plus latency). The
    driver time is used when it is on the same clock, i.e. within `max_age_ns` before `host_ns`.
    """
    half_ns = round(exposure_s * 0.5e9)
    if driver_ms > 0.0:
        driver_ns = round(driver_ms * 1e6)
        if 0 <= host_ns - driver_ns <= max_age_ns:
            return driver_ns + half_ns, True
    return host_ns - half_ns, False


def _exif_exposure_s(image: Image.Image) -> float | None:
    try:
        value = image.getexif().get_ifd(_EXIF_IFD).get(_EXIF_EXPOSURE_TIME)
        exposure_s = float(value) if value is not None else 0.0
    except Exception:  # a broken EXIF block is no reason to drop the frame
        return None
    return exposure_s if exposure_s > 0.0 else None


def decode_image_file(path: Path, data: bytes) -> RawFrame:
    """One image file's bytes -> RawFrame. A JPEG (by its content, whatever its suffix) is passed
    through after a header check (start and end markers, size from the header); anything else is
    decoded with OpenCV for encoding. Raises `FrameError` for a corrupt or truncated file."""
    if data.startswith(_JPEG_SOI):
        if not data.rstrip(b"\x00").endswith(_JPEG_EOI):
            raise FrameError(f"{path}: truncated JPEG (no end-of-image marker)")
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.format != "JPEG":
                    raise FrameError(f"{path}: not a JPEG ({image.format})")
                width, height = image.size
                exposure_s = _exif_exposure_s(image)
        except FrameError:
            raise
        except Exception as exc:  # PIL raises several types for corrupt headers
            raise FrameError(f"{path}: corrupt JPEG ({type(exc).__name__}: {exc})") from exc
        return RawFrame(width=width, height=height, jpeg=data, exposure_s=exposure_s)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FrameError(f"{path}: not a readable image ({len(data)} bytes)")
    return RawFrame(width=image.shape[1], height=image.shape[0], image=image)


class FolderSource:
    """A folder of `.jpg`/`.jpeg`/`.png` files, sorted by name (plain string order: zero-pad the
    numbers). After an outage (the folder or its files gone) it resumes after the last image
    it delivered. A folder with no images is an outage, not an end."""

    kind = "folder"
    paced = True

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.description = str(self.folder)
        self._files: list[Path] = []
        self._next = 0
        self._last_name: str | None = None  # survives close/open: where to resume

    def open(self) -> None:
        if not self.folder.is_dir():
            raise CameraError(f"{self.folder}: no such folder")
        try:
            files = sorted(
                (p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
                key=lambda p: p.name,
            )
        except OSError as exc:
            raise CameraError(f"{self.folder}: cannot list ({exc.strerror or exc})") from exc
        if not files:
            raise CameraError(f"{self.folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
        self._files = files
        names = [p.name for p in files]
        self._next = 0 if self._last_name is None else bisect.bisect_right(names, self._last_name)

    def read(self) -> RawFrame | None:
        if self._next >= len(self._files):
            return None
        path = self._files[self._next]
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise CameraError(f"{path}: file vanished") from exc
        except OSError as exc:
            raise CameraError(f"{path}: cannot read ({exc.strerror or exc})") from exc
        self._next += 1
        self._last_name = path.name
        return decode_image_file(path, data)

    def rewind(self) -> None:
        self._last_name = None
        self.open()  # list again: images added meanwhile join the next round

    def close(self) -> None:
        self._files = []


class VideoFileSource:
    """A video file through `cv2.VideoCapture` (FFmpeg); its own frame rate is ignored, the
    driver paces it at rate_hz. A read that fails ends the video."""

    kind = "video"
    paced = True

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.description = str(self.path)
        self._cap: cv2.VideoCapture | None = None
        self._count = 0
        self._index = 0

    def open(self) -> None:
        if not self.path.is_file():
            raise CameraError(f"{self.path}: no such video file")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"{self.path}: cannot open as a video")
        self._cap = cap
        self._count = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        self._index = 0

    def read(self) -> RawFrame | None:
        if self._cap is None:
            raise CameraError(f"{self.path}: not open")
        ok, image = self._cap.read()
        if not ok or image is None:
            if self._index < self._count:
                log.info("%s: ended after %d of %d frames", self.path, self._index, self._count)
            return None
        self._index += 1
        return RawFrame(width=image.shape[1], height=image.shape[0], image=image)

    def rewind(self) -> None:
        self.close()
        self.open()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _fourcc_str(value: float) -> str:
    code = int(value)
    return "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00") or "?"


class V4l2Source:
    """A V4L2 camera through OpenCV's V4L2 backend (see the module notes on units and times)."""

    kind = "v4l2"
    paced = False

    def __init__(self, device: int | str, config: CameraConfig) -> None:
        self.device = device
        self.path = f"/dev/video{device}" if isinstance(device, int) else str(device)
        self.description = self.path
        self.config = config
        self._cap: cv2.VideoCapture | None = None
        self._exposure_s: float | None = None  # auto exposure as last read back
        self._exposure_readable = True
        self._exposure_read_ns = 0
        self._clock_logged = False

    def open(self) -> None:
        # Checked first: a clear reason, and no OpenCV warning on stderr every retry.
        if not os.path.exists(self.path):
            raise CameraError(f"{self.path}: no such device (camera unplugged?)")
        if not os.access(self.path, os.R_OK | os.W_OK):
            raise CameraError(f"{self.path}: permission denied (is the user in group 'video'?)")
        cap = cv2.VideoCapture(self.device, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"{self.path}: cannot open as a V4L2 camera (busy? not a camera?)")
        try:
            self._configure(cap)
        except cv2.error as exc:
            cap.release()
            raise CameraError(f"{self.path}: cannot configure ({exc})") from exc
        self._cap = cap
        self._exposure_s = None
        self._exposure_readable = self.config.exposure_us is None
        self._exposure_read_ns = 0
        self._clock_logged = False

    def _set(self, cap: cv2.VideoCapture, prop: int, value: float, name: str) -> None:
        if not cap.set(prop, value):
            log.warning("%s: the camera refused %s = %g", self.path, name, value)

    def _configure(self, cap: cv2.VideoCapture) -> None:
        cfg = self.config
        # The pixel format first: many cameras offer their larger sizes in MJPG only.
        self._set(cap, cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"), "FOURCC MJPG")
        self._set(cap, cv2.CAP_PROP_FRAME_WIDTH, cfg.width, "FRAME_WIDTH")
        self._set(cap, cv2.CAP_PROP_FRAME_HEIGHT, cfg.height, "FRAME_HEIGHT")
        self._set(cap, cv2.CAP_PROP_FPS, cfg.rate_hz, "FPS")
        # Set explicitly either way: V4L2 controls outlive the process that set them.
        if cfg.exposure_us is not None:
            # Manual mode first: UVC cameras refuse an absolute exposure while in auto.
            self._set(cap, cv2.CAP_PROP_AUTO_EXPOSURE, V4L2_EXPOSURE_MANUAL, "AUTO_EXPOSURE")
            units = max(1, round(cfg.exposure_us / V4L2_EXPOSURE_UNIT_US))
            if units * V4L2_EXPOSURE_UNIT_US != cfg.exposure_us:
                log.info(
                    "%s: exposure %d us programmed as %d us (V4L2 counts 100 us)",
                    self.path,
                    cfg.exposure_us,
                    units * V4L2_EXPOSURE_UNIT_US,
                )
            self._set(cap, cv2.CAP_PROP_EXPOSURE, units, "EXPOSURE (100 us units)")
        else:
            self._set(
                cap, cv2.CAP_PROP_AUTO_EXPOSURE, V4L2_EXPOSURE_APERTURE_PRIORITY, "AUTO_EXPOSURE"
            )
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = cap.get(cv2.CAP_PROP_FPS)
        fourcc = _fourcc_str(cap.get(cv2.CAP_PROP_FOURCC))
        log.info("%s: opened %dx%d %s at %.4g fps", self.path, width, height, fourcc, fps)
        if (width, height) != (cfg.width, cfg.height):
            log.warning(
                "%s: asked for %dx%d, the camera gives %dx%d",
                self.path,
                cfg.width,
                cfg.height,
                width,
                height,
            )

    def _auto_exposure_s(self, host_ns: int) -> float | None:
        if self._cap is None or not self._exposure_readable:
            return self._exposure_s
        if host_ns - self._exposure_read_ns >= EXPOSURE_QUERY_PERIOD_NS:
            self._exposure_read_ns = host_ns
            units = self._cap.get(cv2.CAP_PROP_EXPOSURE)  # -1: no such control
            if units > 0:
                self._exposure_s = units * V4L2_EXPOSURE_UNIT_US * 1e-6
            elif units < 0:
                self._exposure_readable = False  # do not ask (and make OpenCV complain) again
                log.info("%s: the camera does not report its exposure", self.path)
        return self._exposure_s

    def read(self) -> RawFrame | None:
        if self._cap is None:
            raise CameraError(f"{self.path}: not open")
        ok, image = self._cap.read()
        host_ns = time.monotonic_ns()
        if not ok or image is None:
            raise CameraError(f"{self.path}: read failed (camera unplugged or stalled?)")
        exposure_s = self._auto_exposure_s(host_ns)
        if self.config.exposure_us is not None:
            exposure_s = self.config.exposure_us * 1e-6
        t_ns, from_driver = frame_time_ns(
            self._cap.get(cv2.CAP_PROP_POS_MSEC), host_ns, exposure_s or 0.0
        )
        if not self._clock_logged:
            self._clock_logged = True
            log.info(
                "%s: frame times from %s",
                self.path,
                "the V4L2 buffer timestamps (CLOCK_MONOTONIC)"
                if from_driver
                else "the host clock after read() (buffer timestamps are on another clock)",
            )
        h, w = image.shape[:2]
        return RawFrame(width=w, height=h, image=image, t_ns=t_ns, exposure_s=exposure_s)

    def rewind(self) -> None:
        pass  # a camera has no beginning

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


# --- the driver ------------------------------------------------------------------------------


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
