"""What the camera's capture thread asks of a frame source.

`FrameSource` is the protocol every source follows (image folder, video file, V4L2 camera, a
test's fake), `RawFrame` what it hands over, and `CameraError` / `FrameError` tell an outage
(the driver reopens the source) from one bad frame (skipped).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


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
