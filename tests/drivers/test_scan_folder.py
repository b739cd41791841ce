"""Tests of drivers.scan_folder: the scan file readers and the scan folder source."""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pypcd4
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plyfile import PlyData, PlyElement

from drivers.frames import LidarSweep
from drivers.scan_folder import (
    ScanFolderSource,
    ScanReadError,
    normalize_point_times,
    read_scan,
)
from drivers.source import Sensor

ENCODINGS = [pypcd4.Encoding.ASCII, pypcd4.Encoding.BINARY, pypcd4.Encoding.BINARY_COMPRESSED]


def xyzi_points(n: int, seed: int = 0) -> np.ndarray:
    """[n, 4] float32 x y z intensity. The intensities are a few repeated values, so that
    pypcd4 really compresses the file instead of falling back to plain binary."""
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(-20.0, 20.0, size=(n, 3))
    intensity = rng.integers(0, 4, size=(n, 1)) * 10.0
    return np.hstack([xyz, intensity]).astype(np.float32)


def save_pcd(path: Path, points: np.ndarray, encoding: pypcd4.Encoding) -> Path:
    pypcd4.PointCloud.from_xyzi_points(points).save(path, encoding=encoding)
    return path


def xyzi_structured(points: np.ndarray) -> np.ndarray:
    """[n, 4] x y z intensity -> a structured [n] array with those float32 fields."""
    dtype = [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("intensity", "<f4")]
    a = np.empty(len(points), dtype=dtype)
    for i, name in enumerate(("x", "y", "z", "intensity")):
        a[name] = points[:, i]
    return a


def save_ply(path: Path, points: np.ndarray, text: bool = False) -> Path:
    PlyData([PlyElement.describe(xyzi_structured(points), "vertex")], text=text).write(str(path))
    return path


def pcd_data_offset(data: bytes) -> int:
    """Byte offset where the data of a PCD file starts (after the DATA line)."""
    return data.index(b"\nDATA ") + data[data.index(b"\nDATA ") + 1 :].index(b"\n") + 2


# --- PCD ------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ENCODINGS, ids=lambda e: e.value)
def test_pcd_round_trip(tmp_path: Path, encoding: pypcd4.Encoding) -> None:
    points = xyzi_points(500)
    path = save_pcd(tmp_path / "scan.pcd", points, encoding)
    assert f"\nDATA {encoding.value}\n".encode() in path.read_bytes()  # no silent fallback

    xyz, intensity, point_t = read_scan(path)

    assert xyz.dtype == np.float64 and xyz.shape == (500, 3)
    np.testing.assert_array_equal(xyz, points[:, :3].astype(np.float64))
    assert intensity is not None
    np.testing.assert_array_equal(intensity, points[:, 3])
    assert point_t is None


def test_pcd_with_per_point_time_field(tmp_path: Path) -> None:
    points = xyzi_points(100)
    t = np.linspace(1.7e9, 1.7e9 + 0.1, 100)  # absolute seconds, float64
    cloud = pypcd4.PointCloud.from_xyzit_points(np.column_stack([points, t]))
    cloud.save(tmp_path / "scan.pcd", encoding=pypcd4.Encoding.BINARY)

    xyz, _, point_t = read_scan(tmp_path / "scan.pcd")

    assert point_t is not None and point_t.shape == (100,)
    np.testing.assert_array_equal(point_t, t)
    np.testing.assert_allclose(normalize_point_times(point_t), t - t[0], atol=1e-6)


def test_pcd_with_integer_nanosecond_time_field(tmp_path: Path) -> None:
    """Ouster-style: a uint32 field `t` in nanoseconds since the start of the sweep."""
    points = xyzi_points(100)
    t_ns = np.linspace(0, 99_000_000, 100).astype(np.uint32)
    fields = ("x", "y", "z", "intensity", "t")
    types = (np.float32, np.float32, np.float32, np.float32, np.uint32)
    cloud = pypcd4.PointCloud.from_points([*points.T, t_ns], fields, types)
    cloud.save(tmp_path / "scan.pcd", encoding=pypcd4.Encoding.BINARY_COMPRESSED)

    _, _, point_t = read_scan(tmp_path / "scan.pcd")

    assert point_t is not None
    np.testing.assert_allclose(normalize_point_times(point_t), t_ns * 1e-9, atol=1e-7)


@pytest.mark.parametrize(
    ("scale", "offset"),
    [(1.0, 0.0), (1.0, 1.7e9), (1e6, 0.0), (1e6, 3.5e6), (1e9, 0.0), (1e9, 1.7e18)],
    ids=["s", "s-absolute", "us", "us-offset", "ns", "ns-absolute"],
)
def test_normalize_point_times_units(scale: float, offset: float) -> None:
    """A 0.1 s sweep stored in s, us or ns, relative or absolute -> seconds from the first point."""
    dt_s = np.linspace(0.0, 0.1, 1000)
    stored = offset + dt_s * scale

    out = normalize_point_times(stored[::-1].copy())  # not sorted: the minimum is the start

    assert out.dtype == np.float32
    np.testing.assert_allclose(out, dt_s[::-1], atol=1e-6)


def test_normalize_point_times_all_equal() -> None:
    np.testing.assert_array_equal(normalize_point_times(np.full(5, 123.0)), np.zeros(5))


# --- PLY and NPY ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", [False, True], ids=["binary", "ascii"])
def test_ply_round_trip(tmp_path: Path, text: bool) -> None:
    points = xyzi_points(300)
    xyz, intensity, point_t = read_scan(save_ply(tmp_path / "scan.ply", points, text=text))

    np.testing.assert_allclose(xyz, points[:, :3], rtol=1e-6)
    assert intensity is not None
    np.testing.assert_array_equal(intensity, points[:, 3])
    assert point_t is None


def test_npy_xyz(tmp_path: Path) -> None:
    points = np.random.default_rng(1).normal(size=(50, 3))
    np.save(tmp_path / "scan.npy", points)

    xyz, intensity, point_t = read_scan(tmp_path / "scan.npy")

    np.testing.assert_array_equal(xyz, points)
    assert intensity is None and point_t is None


def test_npy_xyzi(tmp_path: Path) -> None:
    points = xyzi_points(50)
    np.save(tmp_path / "scan.npy", points)

    xyz, intensity, _ = read_scan(tmp_path / "scan.npy")

    np.testing.assert_array_equal(xyz, points[:, :3])
    assert intensity is not None and intensity.dtype == np.float32
    np.testing.assert_array_equal(intensity, points[:, 3])


def test_npy_structured(tmp_path: Path) -> None:
    points = xyzi_points(50)
    np.save(tmp_path / "scan.npy", xyzi_structured(points))

    xyz, intensity, _ = read_scan(tmp_path / "scan.npy")

    np.testing.assert_array_equal(xyz, points[:, :3])
    assert intensity is not None
    np.testing.assert_array_equal(intensity, points[:, 3])


def test_npy_structured_organized_cloud_is_flattened(tmp_path: Path) -> None:
    """An organized [rows, columns] structured array (as Ouster drivers give) -> flat points."""
    points = xyzi_points(64)
    np.save(tmp_path / "scan.npy", xyzi_structured(points).reshape(8, 8))

    xyz, intensity, _ = read_scan(tmp_path / "scan.npy")

    np.testing.assert_array_equal(xyz, points[:, :3])
    assert intensity is not None and intensity.shape == (64,)


def test_nan_points_are_returned(tmp_path: Path) -> None:
    """Readers keep NaN rows (no return of the beam); the odometry drops them later."""
    points = np.random.default_rng(2).normal(size=(20, 3))
    points[[3, 7, 11]] = np.nan
    np.save(tmp_path / "scan.npy", points)
    save_pcd(
        tmp_path / "scan.pcd",
        np.column_stack([points, np.ones(20)]).astype(np.float32),
        pypcd4.Encoding.BINARY,
    )

    for name in ("scan.npy", "scan.pcd"):
        xyz, _, _ = read_scan(tmp_path / name)
        assert xyz.shape == (20, 3)
        assert np.isnan(xyz).any(axis=1).sum() == 3
        np.testing.assert_allclose(
            xyz[~np.isnan(xyz).any(axis=1)], points[~np.isnan(points).any(axis=1)], rtol=1e-6
        )


# --- broken files ---------------------------------------------------------------------------


def _truncated_pcd(cut_in_point: bool) -> Callable[[Path], bytes]:
    def make(tmp: Path) -> bytes:
        data = save_pcd(tmp / "src.pcd", xyzi_points(100), pypcd4.Encoding.BINARY).read_bytes()
        start = pcd_data_offset(data)
        cut = start + 50 * 16 + (7 if cut_in_point else 0)  # 16 bytes per point
        return data[:cut]

    return make


def _corrupt_compressed_pcd(tmp: Path) -> bytes:
    data = bytearray(
        save_pcd(tmp / "src.pcd", xyzi_points(100), pypcd4.Encoding.BINARY_COMPRESSED).read_bytes()
    )
    start = pcd_data_offset(bytes(data)) + 8  # after the two uint32 sizes
    for i in range(start, len(data)):
        data[i] ^= 0x5A
    return bytes(data)


def _compressed_pcd_lying_about_size(tmp: Path) -> bytes:
    data = bytearray(
        save_pcd(tmp / "src.pcd", xyzi_points(100), pypcd4.Encoding.BINARY_COMPRESSED).read_bytes()
    )
    start = pcd_data_offset(bytes(data))
    data[start + 4 : start + 8] = struct.pack("<I", 0xFFFF_FFF0)  # uncompressed size
    return bytes(data)


def _pcd_without_xyz(tmp: Path) -> bytes:
    cloud = pypcd4.PointCloud.from_points(
        np.zeros((10, 3), np.float32), ("a", "b", "c"), (np.float32,) * 3
    )
    cloud.save(tmp / "src.pcd", encoding=pypcd4.Encoding.ASCII)
    return (tmp / "src.pcd").read_bytes()


def _ply_without_vertex(tmp: Path) -> bytes:
    face = np.zeros(2, dtype=[("a", "<i4")])
    PlyData([PlyElement.describe(face, "face")]).write(str(tmp / "src.ply"))
    return (tmp / "src.ply").read_bytes()


def _npy(array: np.ndarray) -> Callable[[Path], bytes]:
    def make(tmp: Path) -> bytes:
        np.save(tmp / "src.npy", array)
        return (tmp / "src.npy").read_bytes()

    return make


def _npz_named_npy(tmp: Path) -> bytes:
    np.savez(tmp / "src.npz", xyz=np.zeros((4, 3)))
    return (tmp / "src.npz").read_bytes()


BROKEN: dict[str, tuple[str, Callable[[Path], bytes]]] = {
    "pcd-truncated-mid-point": (".pcd", _truncated_pcd(cut_in_point=True)),
    "pcd-truncated-at-point": (".pcd", _truncated_pcd(cut_in_point=False)),
    "pcd-compressed-corrupt": (".pcd", _corrupt_compressed_pcd),
    "pcd-compressed-bad-size": (".pcd", _compressed_pcd_lying_about_size),
    "pcd-random-bytes": (".pcd", lambda _: np.random.default_rng(3).bytes(2000)),
    "pcd-empty": (".pcd", lambda _: b""),
    "pcd-no-xyz": (".pcd", _pcd_without_xyz),
    "ply-garbage": (".ply", lambda _: b"ply\nformat what 1.0\n" + bytes(range(256))),
    "ply-empty": (".ply", lambda _: b""),
    "ply-no-vertex": (".ply", _ply_without_vertex),
    "npy-empty": (".npy", lambda _: b""),
    "npy-n-by-2": (".npy", _npy(np.zeros((10, 2)))),
    "npy-1d": (".npy", _npy(np.zeros(12))),
    "npy-object": (".npy", _npy(np.array([{"x": 1}], dtype=object))),
    "npy-structured-no-z": (".npy", _npy(np.zeros(5, dtype=[("x", "f4"), ("y", "f4")]))),
    "npy-structured-subarray": (
        ".npy",
        _npy(np.zeros(5, dtype=[("x", "f4", (2,)), ("y", "f4"), ("z", "f4")])),
    ),
    "npy-is-npz": (".npy", _npz_named_npy),
    "unsupported-suffix": (".las", lambda _: b"LASF"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_broken_file_raises_scan_read_error(tmp_path: Path, case: str) -> None:
    suffix, make = BROKEN[case]
    path = tmp_path / f"broken_{case}{suffix}"
    path.write_bytes(make(tmp_path))

    with pytest.raises(ScanReadError) as info:
        read_scan(path)

    assert path.name in str(info.value)


def test_missing_file_raises_scan_read_error(tmp_path: Path) -> None:
    with pytest.raises(ScanReadError, match="gone.pcd"):
        read_scan(tmp_path / "gone.pcd")


def _check_read_or_scan_read_error(path: Path) -> None:
    """The contract of read_scan: a well-formed result, or ScanReadError and nothing else."""
    try:
        xyz, intensity, point_t = read_scan(path)
    except ScanReadError as exc:
        assert path.name in str(exc)
        return
    assert xyz.ndim == 2 and xyz.shape[1] == 3 and xyz.dtype == np.float64
    for a in (intensity, point_t):
        assert a is None or a.shape == (len(xyz),)
    LidarSweep(t_ns=0, xyz_m=xyz, intensity=intensity)  # what the folder source builds


FUZZ_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@FUZZ_SETTINGS
@given(data=st.binary(max_size=2048), suffix=st.sampled_from([".pcd", ".ply", ".npy"]))
def test_arbitrary_bytes_read_or_raise_scan_read_error(
    tmp_path: Path, data: bytes, suffix: str
) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    _check_read_or_scan_read_error(path)


def _valid_files(tmp: Path) -> list[tuple[str, bytes]]:
    points = xyzi_points(40)
    files = [
        (".pcd", save_pcd(tmp / f"v_{e.value}.pcd", points, e).read_bytes()) for e in ENCODINGS
    ]
    files.append((".ply", save_ply(tmp / "v.ply", points).read_bytes()))
    files.append((".ply", save_ply(tmp / "v_text.ply", points, text=True).read_bytes()))
    np.save(tmp / "v.npy", points)
    np.save(tmp / "v_struct.npy", xyzi_structured(points))
    files += [(".npy", (tmp / n).read_bytes()) for n in ("v.npy", "v_struct.npy")]
    return files


@FUZZ_SETTINGS
@given(
    which=st.integers(min_value=0, max_value=6),
    cut=st.floats(min_value=0.0, max_value=1.0),
    flips=st.lists(
        st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 255)), max_size=4
    ),
)
def test_damaged_valid_files_read_or_raise_scan_read_error(
    tmp_path: Path, which: int, cut: float, flips: list[tuple[float, int]]
) -> None:
    """Valid files of every format, truncated and with some bytes overwritten."""
    suffix, data = _valid_files(tmp_path)[which]
    damaged = bytearray(data[: max(1, round(len(data) * cut))])
    for where, value in flips:
        damaged[int(where * len(damaged))] = value
    path = tmp_path / f"damaged{suffix}"
    path.write_bytes(bytes(damaged))
    _check_read_or_scan_read_error(path)


def sweeps_of(source: ScanFolderSource) -> list[LidarSweep]:
    """The source's frames, each checked to be the lidar's."""
    out = []
    for tagged in source.frames():
        assert tagged.sensor == Sensor.lidar
        out.append(tagged.frame)
    return out


# --- ScanFolderSource -----------------------------------------------------------------------


def write_npy_scans(folder: Path, names: list[str], n0: int = 10) -> None:
    """One .npy scan per name; that of names[i] has n0 + i points, so scans can be told apart."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        np.save(folder / name, np.full((n0 + i, 3), float(i)))


def test_source_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ScanReadError, match="no such folder"):
        ScanFolderSource(tmp_path / "nope")


def test_source_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "times.txt").write_text("0.0\n")
    (tmp_path / "notes.txt").write_text("not a scan\n")
    with pytest.raises(ScanReadError, match="no .pcd, .ply or .npy scans"):
        ScanFolderSource(tmp_path)


def test_source_sorts_files_by_name(tmp_path: Path) -> None:
    write_npy_scans(tmp_path, ["000002.npy", "000000.npy", "000001.npy"])
    (tmp_path / "readme.txt").write_text("ignored\n")

    source = ScanFolderSource(tmp_path)
    sweeps = sweeps_of(source)

    assert [p.name for p in source.files] == ["000000.npy", "000001.npy", "000002.npy"]
    assert len(source) == 3
    assert [s.index for s in sweeps] == [0, 1, 2]
    assert [len(s) for s in sweeps] == [11, 12, 10]  # the sizes written for each name
    assert all(isinstance(s, LidarSweep) for s in sweeps)


def test_source_mixed_formats(tmp_path: Path) -> None:
    points = xyzi_points(30)
    save_pcd(tmp_path / "a.pcd", points, pypcd4.Encoding.BINARY_COMPRESSED)
    save_ply(tmp_path / "b.ply", points)
    np.save(tmp_path / "c.npy", points)

    sweeps = sweeps_of(ScanFolderSource(tmp_path))

    assert len(sweeps) == 3
    for s in sweeps:
        np.testing.assert_allclose(s.xyz_m, points[:, :3], rtol=1e-6)
        assert s.intensity is not None and s.point_dt_s is None


def test_source_uses_times_txt(tmp_path: Path) -> None:
    write_npy_scans(tmp_path, ["a.npy", "b.npy", "c.npy"])
    (tmp_path / "times.txt").write_text("0.05\n0.15\n0.30\n")

    sweeps = sweeps_of(ScanFolderSource(tmp_path, default_period_s=1.0))

    assert [s.t_ns for s in sweeps] == [50_000_000, 150_000_000, 300_000_000]
    assert sweeps[1].t_s == pytest.approx(0.15)


def test_source_default_times(tmp_path: Path) -> None:
    write_npy_scans(tmp_path, ["a.npy", "b.npy", "c.npy"])

    sweeps = sweeps_of(ScanFolderSource(tmp_path, default_period_s=0.05))

    assert [s.t_ns for s in sweeps] == [0, 50_000_000, 100_000_000]


@pytest.mark.parametrize(
    ("times", "match"),
    [
        ("0.0\n0.1\n", "2 times for 3 scans"),
        ("0.0\n0.1\n0.2\n0.3\n", "4 times for 3 scans"),
        ("0.0\n0.2\n0.1\n", "increasing"),
        ("0.0\n0.1\n0.1\n", "increasing"),
        ("0.0\nnan\n0.2\n", "finite"),
        ("0.0\nzero point one\n0.2\n", "one number per line"),
    ],
    ids=["too-few", "too-many", "decreasing", "repeated", "nan", "not-a-number"],
)
def test_source_bad_times_txt(tmp_path: Path, times: str, match: str) -> None:
    write_npy_scans(tmp_path, ["a.npy", "b.npy", "c.npy"])
    (tmp_path / "times.txt").write_text(times)

    with pytest.raises(ScanReadError, match=match) as info:
        ScanFolderSource(tmp_path)

    assert "times.txt" in str(info.value)


def test_source_skips_a_corrupt_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_npy_scans(tmp_path, ["000000.npy", "000001.npy", "000002.npy"])
    (tmp_path / "000001.npy").write_bytes(b"\x93NUMPY garbage")
    (tmp_path / "times.txt").write_text("1.0\n2.0\n3.0\n")

    source = ScanFolderSource(tmp_path)
    with caplog.at_level(logging.WARNING, logger="drivers.scan_folder"):
        sweeps = sweeps_of(source)

    assert [s.index for s in sweeps] == [0, 2]
    assert [s.t_ns for s in sweeps] == [1_000_000_000, 3_000_000_000]
    assert [p.name for p, _ in source.skipped] == ["000001.npy"]
    assert "000001.npy" in source.skipped[0][1]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "000001.npy" in warnings[0].getMessage()
    health = source.health()[Sensor.lidar]  # the bad file is counted as the lidar's error
    assert (health.messages, health.errors) == (2, 1)


def test_source_per_point_times_in_seconds(tmp_path: Path) -> None:
    points = xyzi_points(100)
    t_us = np.linspace(0.0, 100_000.0, 100)  # microseconds over a 0.1 s sweep
    pypcd4.PointCloud.from_points(
        [*points.T, t_us], ("x", "y", "z", "intensity", "time"), (np.float32,) * 4 + (np.float64,)
    ).save(tmp_path / "scan.pcd", encoding=pypcd4.Encoding.BINARY)

    (sweep,) = sweeps_of(ScanFolderSource(tmp_path))

    assert sweep.point_dt_s is not None and sweep.point_dt_s.dtype == np.float32
    np.testing.assert_allclose(sweep.point_dt_s, t_us * 1e-6, atol=1e-6)
