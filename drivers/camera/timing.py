"""Frame times of the camera (`CameraFrame.t_ns`, middle of the exposure on the host
`time.monotonic_ns()` clock).

* V4L2: OpenCV's `CAP_PROP_POS_MSEC` on the V4L2 backend is the dequeued buffer's kernel
  timestamp. Nearly all capture drivers (uvcvideo included) stamp buffers with CLOCK_MONOTONIC,
  which is the clock of `time.monotonic_ns()`, at the start of the frame (uvcvideo flags them
  TSTAMP_SRC_SOE), so it is free of the USB transfer, decode and scheduling delay that a host
  stamp after `read()` carries (tens of ms, varying). OpenCV cannot tell us which clock the
  driver used, so the buffer time is only trusted when it lies within `DRIVER_TIMESTAMP_MAX_AGE_NS`
  before the host time at `read()`; otherwise (a CLOCK_REALTIME driver, 0) the host time at
  `read()` is used. Either way half the exposure is added / subtracted to reach its middle
  (`frame_time_ns`). Which clock is in use is logged once per open (`drivers.camera.v4l2`).
* video file / folder: the host time at which the paced frame is emitted (the emulated capture,
  in `drivers.camera.driver`).
"""

from __future__ import annotations

DRIVER_TIMESTAMP_MAX_AGE_NS = 1_000_000_000  # a buffer time older than this is not trusted


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
