"""Tests of drivers.camera: folder, video-file and (faked) V4L2 sources, outages, the queue."""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from drivers.camera import v4l2
from drivers.camera.driver import CameraDriver, source_kind
from drivers.camera.files import FolderSource
from drivers.camera.source import CameraError, RawFrame
from drivers.camera.timing import frame_time_ns
from drivers.camera.v4l2 import V4l2Source
from drivers.config import CameraConfig
from drivers.frames import CameraFrame
from drivers.source import Sensor

W, H = 32, 24


def frames_of(cam: CameraDriver, timeout_s: float) -> list:
    """The driver's frames, each checked to be tagged as the camera's."""
    out = []
    for tagged in cam.frames(timeout_s=timeout_s):
        assert tagged.sensor == Sensor.camera
        out.append(tagged.frame)
    return out


def wait_for(predicate: Callable[[], bool], timeout_s: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def value_of(i: int) -> int:
    """The grey level that identifies image i < 16 (distinct after JPEG round trips)."""
    assert 0 <= i < 16
    return 10 + 15 * i


def image_of(i: int, w: int = W, h: int = H) -> np.ndarray:
    return np.full((h, w, 3), value_of(i), np.uint8)


def encode(image: np.ndarray, ext: str) -> bytes:
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


def index_of(frame: CameraFrame) -> int:
    image = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a decodable JPEG"
    return round((float(image.mean()) - 10.0) / 15.0)


def make_folder(folder: Path, n: int, suffixes: tuple[str, ...] = (".jpg",)) -> list[Path]:
    """n images img_00.. (suffixes in turn), written in reverse name order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"img_{i:02d}{suffixes[i % len(suffixes)]}" for i in range(n)]
    for i in reversed(range(n)):
        ext = ".png" if paths[i].suffix == ".png" else ".jpg"
        paths[i].write_bytes(encode(image_of(i), ext))
    return paths


def config(source: Path | str, **kw) -> CameraConfig:
    return CameraConfig(source=str(source), **kw)


def disconnect_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "disconnected" in r.getMessage()]


# --- folder and video sources ----------------------------------------------------------------


def test_folder_frames_in_name_order_at_the_requested_rate(tmp_path: Path) -> None:
    paths = make_folder(tmp_path / "imgs", 8, (".jpg", ".png", ".jpeg"))
    (tmp_path / "imgs" / "notes.txt").write_text("not an image")
    with CameraDriver(config(tmp_path / "imgs", rate_hz=10.0), rate=2.0) as cam:  # 20 Hz
        frames = list(frames_of(cam, timeout_s=2.0))
        status = cam.status()

    assert [index_of(f) for f in frames] == list(range(8))
    for path, frame in zip(paths, frames, strict=True):
        assert (frame.width, frame.height) == (W, H)
        assert frame.exposure_s == 0.0
        if path.suffix == ".png":  # encoded
            assert frame.jpeg.startswith(b"\xff\xd8\xff")
            decoded = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert decoded.shape == (H, W, 3)
        else:  # passed through
            assert frame.jpeg == path.read_bytes()
    dt_s = np.diff([f.t_ns for f in frames]) * 1e-9
    assert 0.04 < float(np.median(dt_s)) < 0.065
    assert dt_s.min() > 0.025
    assert status.finished and not status.connected
    assert (status.frames, status.drops, status.errors) == (8, 0, 0)
    assert 15.0 < status.rate_hz < 25.0
    assert status.last_frame_age_s is not None and status.last_frame_age_s < 1.0


def test_video_file_is_read_back_frame_by_frame(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (64, 48))
    assert writer.isOpened()
    for i in range(9):
        writer.write(image_of(i, 64, 48))
    writer.release()

    assert source_kind(str(path)) == "video"
    with CameraDriver(config(path, jpeg_quality=95), rate=0.0, queue_size=16) as cam:
        frames = list(frames_of(cam, timeout_s=2.0))
        status = cam.status()
    assert [index_of(f) for f in frames] == list(range(9))
    assert all((f.width, f.height) == (64, 48) for f in frames)
    assert status.finished and (status.frames, status.drops, status.errors) == (9, 0, 0)


def test_loop_starts_over(tmp_path: Path) -> None:
    make_folder(tmp_path, 3)
    with CameraDriver(config(tmp_path, rate_hz=100.0), loop=True, queue_size=64) as cam:
        got = [cam.get(timeout_s=1.0) for _ in range(7)]
    assert [index_of(f) for f in got if f is not None] == [0, 1, 2, 0, 1, 2, 0]


def test_exposure_from_exif_unless_set_in_the_config(tmp_path: Path) -> None:
    buf = io.BytesIO()
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x829A] = IFDRational(12_500, 1_000_000)  # ExposureTime 12.5 ms
    Image.fromarray(image_of(0)).save(buf, format="JPEG", exif=exif)
    (tmp_path / "a.jpg").write_bytes(buf.getvalue())
    (tmp_path / "b.png").write_bytes(encode(image_of(1), ".png"))

    with CameraDriver(config(tmp_path), rate=0.0) as cam:
        exif_frame, png_frame = frames_of(cam, timeout_s=2.0)
    assert exif_frame.exposure_s == pytest.approx(0.0125)
    assert png_frame.exposure_s == 0.0
    with CameraDriver(config(tmp_path, exposure_us=2000), rate=0.0) as cam:
        assert [f.exposure_s for f in frames_of(cam, timeout_s=2.0)] == [0.002, 0.002]


def test_corrupt_images_are_counted_and_skipped(tmp_path: Path) -> None:
    good = encode(image_of(0), ".jpg")
    (tmp_path / "00.jpg").write_bytes(good)
    (tmp_path / "01.jpg").write_bytes(b"this is not an image")
    (tmp_path / "02.png").write_bytes(encode(image_of(2), ".png"))
    (tmp_path / "03.jpg").write_bytes(good[: len(good) // 2])  # truncated
    (tmp_path / "04.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    (tmp_path / "05.jpeg").write_bytes(encode(image_of(5), ".jpg"))

    with CameraDriver(config(tmp_path), rate=0.0) as cam:
        frames = list(frames_of(cam, timeout_s=2.0))
        status = cam.status()
    assert [index_of(f) for f in frames] == [0, 2, 5]
    assert status.finished and status.frames == 3 and status.errors == 3
    assert status.last_error is not None and "04.png" in status.last_error


def test_queue_overflow_drops_the_oldest_and_counts(tmp_path: Path) -> None:
    make_folder(tmp_path, 12)
    cam = CameraDriver(config(tmp_path), rate=0.0, queue_size=4).start()
    try:
        assert wait_for(lambda: cam.status().finished)
        status = cam.status()
        assert (status.frames, status.drops) == (12, 8)
        assert [index_of(f) for f in frames_of(cam, timeout_s=0.1)] == [8, 9, 10, 11]
    finally:
        cam.stop()


# --- outages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["/dev/video99", "99"])
def test_missing_device_is_reported_not_raised(
    source: str, caplog: pytest.LogCaptureFixture
) -> None:
    if os.path.exists("/dev/video99"):
        pytest.skip("this machine has a /dev/video99")
    caplog.set_level(logging.WARNING, logger="drivers.camera")
    cam = CameraDriver(config(source), reopen_interval_s=0.05)
    assert isinstance(cam.source, V4l2Source)
    with cam:
        time.sleep(0.3)  # several retries
        status = cam.status()
        assert cam.get(timeout_s=0.05) is None
    assert not status.connected and not status.finished
    assert status.last_error == "/dev/video99: no such device (camera unplugged?)"
    assert (status.frames, status.errors, status.last_frame_age_s) == (0, 1, None)
    assert (status.kind, status.source) == ("v4l2", "/dev/video99")
    assert len(disconnect_logs(caplog)) == 1


def test_folder_taken_away_mid_run_disconnects_then_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="drivers.camera")
    folder, away = tmp_path / "imgs", tmp_path / "away"
    make_folder(folder, 14)
    cam = CameraDriver(config(folder, rate_hz=50.0), queue_size=64, reopen_interval_s=0.05).start()
    try:
        got = [cam.get(timeout_s=2.0) for _ in range(3)]
        folder.rename(away)
        assert wait_for(lambda: not cam.status().connected)
        time.sleep(0.2)
        status = cam.status()
        assert not status.connected and status.errors == 1
        assert "no such folder" in (status.last_error or "")
        away.rename(folder)
        got += list(frames_of(cam, timeout_s=2.0))
        status = cam.status()
    finally:
        cam.stop()
    # Each image exactly once, in order: it goes on after the last one it delivered.
    assert [index_of(f) for f in got if f is not None] == list(range(14))
    assert status.finished and status.errors == 1
    assert len(disconnect_logs(caplog)) == 1


def test_emptied_folder_is_an_outage_not_an_end(tmp_path: Path) -> None:
    paths = make_folder(tmp_path, 2)
    source = FolderSource(tmp_path)
    source.open()
    assert source.read() is not None
    saved = {p: p.read_bytes() for p in paths}
    for p in paths:
        p.unlink()
    with pytest.raises(CameraError, match="vanished"):
        source.read()
    source.close()
    with pytest.raises(CameraError, match="no images"):
        source.open()
    for p, data in saved.items():
        p.write_bytes(data)
    source.open()
    frame = source.read()
    assert frame is not None and frame.jpeg == saved[paths[1]]  # resumes after img_00
    assert source.read() is None


class FlakySource:
    """A live source that can be unplugged (open and read fail) or stalled (read blocks)."""

    kind = "fake"
    description = "fake0"
    paced = False

    def __init__(self) -> None:
        self.unplugged = threading.Event()
        self.stalled = threading.Event()
        self.unstall = threading.Event()
        self.opens = 0
        self.count = 0

    def open(self) -> None:
        self.opens += 1
        if self.unplugged.is_set():
            raise CameraError("fake0: unplugged")

    def read(self) -> RawFrame | None:
        if self.stalled.is_set():
            self.unstall.wait(5.0)
        if self.unplugged.is_set():
            raise CameraError("fake0: read failed")
        time.sleep(0.01)  # a 100 Hz camera
        self.count += 1
        image = np.full((8, 8, 3), self.count % 256, np.uint8)
        return RawFrame(width=8, height=8, image=image, exposure_s=0.004)

    def rewind(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_source_that_fails_is_reopened_and_resumes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="drivers.camera")
    source = FlakySource()
    with CameraDriver(config("fake0"), source=source, reopen_interval_s=0.05) as cam:
        assert wait_for(lambda: cam.status().frames >= 3)
        assert cam.status().connected and cam.status().rate_hz > 30.0
        first = cam.get(timeout_s=1.0)
        assert first is not None and first.exposure_s == 0.004  # as the source says
        assert first.t_ns <= time.monotonic_ns()

        source.unplugged.set()
        assert wait_for(lambda: not cam.status().connected)
        opens = source.opens
        assert wait_for(lambda: source.opens >= opens + 3)  # keeps trying
        status = cam.status()
        assert status.last_error == "fake0: unplugged" and status.errors == 1

        frames_before = status.frames
        source.unplugged.clear()
        assert wait_for(lambda: cam.status().connected and cam.status().frames > frames_before)
        assert cam.status().errors == 1
    assert len(disconnect_logs(caplog)) == 1


def test_source_that_stops_delivering_times_out_and_resumes() -> None:
    source = FlakySource()
    cfg = config("fake0", timeout_s=0.3)
    with CameraDriver(cfg, source=source, queue_size=4) as cam:
        assert wait_for(lambda: cam.status().connected)
        source.stalled.set()
        t0 = time.monotonic()
        assert wait_for(lambda: not cam.status().connected, timeout_s=5.0)
        assert 0.25 < time.monotonic() - t0 < 3.0  # not before its timeout; soon after
        status = cam.status()
        assert status.last_error == "fake0: no frame for 0.3 s" and status.errors == 1
        assert len(list(frames_of(cam, timeout_s=0.05))) <= 4  # drains, then times out
        assert cam.status().last_frame_age_s > 0.25

        source.stalled.clear()
        source.unstall.set()
        assert wait_for(lambda: cam.status().connected)
        assert cam.get(timeout_s=1.0) is not None
        assert cam.status().errors == 1


# --- V4L2 (faked OpenCV capture) ---------------------------------------------------------------


class FakeCapture:
    """Stands in for cv2.VideoCapture on the V4L2 backend."""

    made: list[FakeCapture] = []
    exposure_units = 156.0  # what the camera reports in auto mode

    def __init__(self, device: int | str, api: int) -> None:
        self.device, self.api = device, api
        self.sets: list[tuple[int, float]] = []
        self.props: dict[int, float] = {}
        self.pos_msec = 0.0
        FakeCapture.made.append(self)

    def isOpened(self) -> bool:
        return True

    def set(self, prop: int, value: float) -> bool:
        self.sets.append((prop, value))
        self.props[prop] = value
        return True

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_POS_MSEC:
            return self.pos_msec
        if prop == cv2.CAP_PROP_EXPOSURE:
            return self.exposure_units
        return self.props.get(prop, 0.0)

    def read(self) -> tuple[bool, np.ndarray]:
        time.sleep(0.005)
        self.pos_msec = (time.monotonic_ns() - 30_000_000) * 1e-6  # started 30 ms ago
        w = int(self.props.get(cv2.CAP_PROP_FRAME_WIDTH, 64))
        h = int(self.props.get(cv2.CAP_PROP_FRAME_HEIGHT, 48))
        return True, np.full((h, w, 3), 90, np.uint8)

    def release(self) -> None:
        pass


@pytest.fixture
def fake_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    FakeCapture.made = []
    monkeypatch.setattr(v4l2.cv2, "VideoCapture", FakeCapture)
    device = tmp_path / "video0"
    device.touch()
    return str(device)


def test_v4l2_manual_exposure_and_driver_timestamps(fake_device: str) -> None:
    cfg = config(fake_device, width=64, height=48, rate_hz=30.0, exposure_us=5000)
    with CameraDriver(cfg, source=V4l2Source(fake_device, cfg)) as cam:
        frame = cam.get(timeout_s=2.0)
    cap = FakeCapture.made[0]
    assert (cap.device, cap.api) == (fake_device, cv2.CAP_V4L2)
    sets = dict(cap.sets)
    assert sets[cv2.CAP_PROP_FOURCC] == cv2.VideoWriter.fourcc(*"MJPG")
    assert (sets[cv2.CAP_PROP_FRAME_WIDTH], sets[cv2.CAP_PROP_FRAME_HEIGHT]) == (64, 48)
    assert sets[cv2.CAP_PROP_FPS] == 30.0
    assert sets[cv2.CAP_PROP_AUTO_EXPOSURE] == 1  # manual
    assert sets[cv2.CAP_PROP_EXPOSURE] == 50  # 5000 us in 100 us units
    props = [p for p, _ in cap.sets]
    assert props.index(cv2.CAP_PROP_AUTO_EXPOSURE) < props.index(cv2.CAP_PROP_EXPOSURE)

    assert frame is not None and (frame.width, frame.height) == (64, 48)
    assert frame.exposure_s == 0.005
    assert cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (48, 64, 3)
    # The buffer time (30 ms before read returned) plus half the exposure.
    age_ms = (time.monotonic_ns() - frame.t_ns) * 1e-6
    assert 25.0 < age_ms < 1000.0


def test_v4l2_auto_exposure_is_read_back(fake_device: str) -> None:
    cfg = config(fake_device, width=64, height=48)
    source = V4l2Source(fake_device, cfg)
    source.open()
    raw = source.read()
    source.close()
    sets = dict(FakeCapture.made[0].sets)
    assert sets[cv2.CAP_PROP_AUTO_EXPOSURE] == 3  # aperture priority = auto
    assert cv2.CAP_PROP_EXPOSURE not in sets
    assert raw is not None and raw.exposure_s == pytest.approx(0.0156)  # 156 x 100 us


def test_frame_time_uses_the_driver_clock_only_when_plausible() -> None:
    host_ns = 5_000_000_000_000
    driver_ms = (host_ns - 40_000_000) / 1e6  # 40 ms earlier: the same clock
    assert frame_time_ns(driver_ms, host_ns, 0.01) == (host_ns - 40_000_000 + 5_000_000, True)
    assert frame_time_ns(0.0, host_ns, 0.01) == (host_ns - 5_000_000, False)  # no timestamp
    wall_ms = 1.7e12  # CLOCK_REALTIME, in ms since 1970
    assert frame_time_ns(wall_ms, host_ns, 0.0) == (host_ns, False)
    assert frame_time_ns((host_ns + 10**6) / 1e6, host_ns, 0.0) == (host_ns, False)  # future


def test_source_kind(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").touch()
    assert source_kind("0") == "v4l2"
    assert source_kind("/dev/video0") == "v4l2"
    assert source_kind("/dev/v4l/by-id/usb-cam-video-index0") == "v4l2"
    assert source_kind(str(tmp_path)) == "folder"
    assert source_kind(str(tmp_path / "clip.mp4")) == "video"
    assert source_kind(str(tmp_path / "missing.avi")) == "video"
    assert source_kind(str(tmp_path / "missing_folder")) == "folder"


def test_missing_video_or_folder_is_reported(tmp_path: Path) -> None:
    for source, reason in [("gone.avi", "no such video file"), ("gone", "no such folder")]:
        with CameraDriver(config(tmp_path / source), reopen_interval_s=0.05) as cam:
            assert wait_for(lambda cam=cam: cam.status().errors == 1)
            status = cam.status()
        assert not status.connected and reason in (status.last_error or "")


def test_start_only_once(tmp_path: Path) -> None:
    make_folder(tmp_path, 1)
    cam = CameraDriver(config(tmp_path))
    with cam, pytest.raises(RuntimeError):
        cam.start()
    assert not cam.running
