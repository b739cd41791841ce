"""A V4L2 camera through OpenCV's V4L2 backend: open, set the controls, read frames.

V4L2 units: OpenCV passes `CAP_PROP_AUTO_EXPOSURE` and `CAP_PROP_EXPOSURE` raw to the V4L2 controls
(its range normalisation is off by default). `V4L2_CID_EXPOSURE_AUTO` is a menu: 1 = manual,
3 = aperture priority (what UVC cameras call auto). `V4L2_CID_EXPOSURE_ABSOLUTE` counts 100 us, so
`exposure_us = 5000` is programmed as 50; an exposure that is not a multiple of 100 us is rounded
to one (and logged). Frame times: see `drivers.camera.timing`.
"""

from __future__ import annotations

import logging
import os
import time

import cv2

from drivers.camera.source import CameraError, RawFrame
from drivers.camera.timing import frame_time_ns
from drivers.config import CameraConfig

log = logging.getLogger(__name__)

V4L2_EXPOSURE_UNIT_US = 100  # V4L2_CID_EXPOSURE_ABSOLUTE counts 100 us
V4L2_EXPOSURE_MANUAL = 1  # V4L2_CID_EXPOSURE_AUTO menu entries
V4L2_EXPOSURE_APERTURE_PRIORITY = 3  # "auto" on UVC cameras
EXPOSURE_QUERY_PERIOD_NS = 1_000_000_000  # auto exposure: read CAP_PROP_EXPOSURE this often


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
