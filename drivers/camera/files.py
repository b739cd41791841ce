"""The camera's stand-ins that the driver paces at rate_hz: a folder of images, a video file.

`decode_image_file` turns one image file into a `RawFrame`: a JPEG is passed through byte for byte
(its EXIF ExposureTime, as the digital twin writes it, gives the exposure), anything else is
decoded for encoding.
"""

from __future__ import annotations

import bisect
import io
import logging
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from drivers.camera.source import CameraError, FrameError, RawFrame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

_JPEG_SOI = b"\xff\xd8\xff"
_JPEG_EOI = b"\xff\xd9"
_EXIF_IFD = 0x8769
_EXIF_EXPOSURE_TIME = 0x829A


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
