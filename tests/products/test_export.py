"""Every map format, read back with an independent reader, matches what was written."""

import numpy as np
import pytest

from products.export import read_ply, utc_to_adjusted_gps, write_map
from products.map import MapCloud


@pytest.fixture
def cloud():
    rng = np.random.default_rng(7)
    n = 2500
    xyz = rng.uniform(-30, 30, (n, 3)) + np.array([1000.0, -2000.0, 50.0])
    return MapCloud(
        xyz,
        rng.uniform(0, 255, n).astype(np.float32).round(),
        1.767e9 + np.sort(rng.uniform(0, 60, n)),
        rng.integers(0, 256, (n, 3)).astype(np.uint8),
        rng.random(n) < 0.8,
    )


@pytest.mark.parametrize("fmt", ["las", "laz"])
def test_las_and_laz(cloud, tmp_path, fmt):
    import laspy

    path = write_map(tmp_path / f"m.{fmt}", cloud, fmt, gps_offset_s=1.8e9 - 1.767e9)
    las = laspy.read(path)
    assert las.header.version.major == 1 and las.header.version.minor == 4
    assert las.header.point_format.id == 7 and len(las.points) == len(cloud)
    assert np.abs(las.xyz - cloud.xyz_m).max() <= 0.0005 + 1e-9  # the 1 mm scale
    np.testing.assert_array_equal(las.red >> 8, cloud.rgb[:, 0])
    np.testing.assert_array_equal(las.blue >> 8, cloud.rgb[:, 2])
    np.testing.assert_array_equal(las.intensity >> 8, cloud.intensity.astype(int))
    np.testing.assert_array_equal(las.user_data, cloud.coloured)  # 1: the camera's colour
    expected = utc_to_adjusted_gps(cloud.t_s + (1.8e9 - 1.767e9))
    np.testing.assert_allclose(las.gps_time, expected, atol=1e-6)
    assert las.header.global_encoding.gps_time_type == laspy.header.GpsTimeType.STANDARD


def test_gps_time_is_adjusted_standard_time():
    # 2026-01-01T00:00:00Z: GPS week 2399, the GPS clock 18 s ahead of UTC
    unix = 1767225600.0
    assert utc_to_adjusted_gps(np.array([unix]))[0] == unix - 315964800 + 18 - 1e9


def test_e57(cloud, tmp_path):
    import pye57

    path = write_map(tmp_path / "m.e57", cloud, "e57")
    e57 = pye57.E57(str(path))
    assert e57.scan_count == 1
    data = e57.read_scan_raw(0)
    xyz = np.column_stack([data["cartesianX"], data["cartesianY"], data["cartesianZ"]])
    np.testing.assert_allclose(xyz, cloud.xyz_m, atol=1e-6)
    np.testing.assert_array_equal(data["colorRed"], cloud.rgb[:, 0])
    np.testing.assert_allclose(data["intensity"], cloud.intensity, atol=1e-4)


def test_ply_keeps_every_field(cloud, tmp_path):
    from plyfile import PlyData

    path = write_map(tmp_path / "m.ply", cloud, "ply")
    v = PlyData.read(str(path))["vertex"]
    np.testing.assert_array_equal(v["x"], cloud.xyz_m[:, 0])  # doubles: survey coordinates
    for in_memory in (True, False):  # False: views of the memory-mapped file, none copied
        back = read_ply(path, in_memory=in_memory)
        np.testing.assert_array_equal(back.xyz_m, cloud.xyz_m)
        np.testing.assert_array_equal(back.t_s, cloud.t_s)
        np.testing.assert_array_equal(back.rgb, cloud.rgb)
        np.testing.assert_array_equal(back.intensity, cloud.intensity)
        np.testing.assert_array_equal(back.coloured, cloud.coloured)
        assert np.may_share_memory(back.xyz_m, back.t_s) != in_memory  # one buffer: the file
        assert back.t_s.flags.writeable == in_memory  # in memory: the arrays are its own


def test_pcd_reads_in_open3d(cloud, tmp_path):
    import open3d as o3d

    path = write_map(tmp_path / "m.pcd", cloud, "pcd")
    pc = o3d.t.io.read_point_cloud(str(path))
    xyz = pc.point.positions.numpy()
    assert len(xyz) == len(cloud)
    np.testing.assert_allclose(xyz, cloud.xyz_m, atol=1e-3)  # float32, as PCL expects
    np.testing.assert_allclose(pc.point.intensity.numpy().ravel(), cloud.intensity)


def test_an_empty_map_and_an_unknown_format(tmp_path):
    empty = MapCloud(np.zeros((0, 3)), np.zeros(0, np.float32), np.zeros(0))
    import laspy

    assert len(laspy.read(write_map(tmp_path / "e.laz", empty, "laz")).points) == 0
    with pytest.raises(ValueError, match="unknown map format"):
        write_map(tmp_path / "x.obj", empty, "obj")


def test_a_crs_goes_into_the_las_header(cloud, tmp_path):
    import laspy

    path = write_map(tmp_path / "m.laz", cloud, "laz", epsg=25832)
    assert laspy.read(path).header.parse_crs().to_epsg() == 25832


@pytest.mark.parametrize("fmt", ["ply", "pcd", "laz"])
def test_a_map_is_written_in_chunks_from_disk(cloud, tmp_path, monkeypatch, fmt):
    """A memory-mapped map (MapBuilder's) written in chunks of 700 points gives the same file
    as one chunk."""
    import products.export as export

    whole = write_map(tmp_path / f"whole.{fmt}", cloud, fmt).read_bytes()
    cols = tmp_path / "xyz.bin"
    cloud.xyz_m.tofile(cols)
    mapped = MapCloud(
        np.memmap(cols, np.float64, "r", shape=cloud.xyz_m.shape),
        cloud.intensity, cloud.t_s, cloud.rgb, cloud.coloured,
    )  # fmt: skip
    monkeypatch.setattr(export, "CHUNK", 700)
    assert write_map(tmp_path / f"chunked.{fmt}", mapped, fmt).read_bytes() == whole


def test_e57_in_a_crs_keeps_the_map_frame_and_carries_the_pose_and_the_wkt(cloud, tmp_path):
    import pye57

    from products.export import write_e57

    yaw = 0.3
    T = np.eye(4)
    T[:3, :3] = [[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]]
    T[:3, 3] = [500_000.5, 5_700_000.25, 100.0]  # UTM-sized: the pose keeps float64
    write_e57(tmp_path / "m.e57", cloud, T, 25832)
    e57 = pye57.E57(str(tmp_path / "m.e57"))
    assert "ETRS89 / UTM zone 32N" in e57.root["coordinateMetadata"].value()
    raw = e57.read_scan_raw(0)
    assert np.allclose(raw["cartesianX"], cloud.xyz_m[:, 0])  # the map frame's points
    d = e57.read_scan(0, transform=True, ignore_missing_fields=True)
    xyz = np.column_stack([d["cartesianX"], d["cartesianY"], d["cartesianZ"]])
    assert np.abs(xyz - (cloud.xyz_m @ T[:3, :3].T + T[:3, 3])).max() < 1e-4
