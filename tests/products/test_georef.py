"""Georeferencing with control points: the fit, the residuals and blunders, the control CSV and
streaming a LAS/LAZ map into the CRS."""

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from products.export import write_las
from products.georef import (
    ControlPoint,
    GeorefError,
    fit_transform,
    georeference,
    read_control_csv,
    transform_las,
)
from products.map import MapCloud

EPSG = 25832  # ETRS89 / UTM 32N


def _T(yaw_deg=37.0, tilt_deg=(0.4, -0.3), t=(500_123.4, 5_700_456.7, 312.3), s=1.0):
    """T_crs_map [4, 4]: a map frame turned, slightly tilted and put at UTM-sized coordinates."""
    T = np.eye(4)
    T[:3, :3] = s * Rotation.from_euler("zyx", [yaw_deg, *tilt_deg], degrees=True).as_matrix()
    T[:3, 3] = t
    return T


def _apply(T, xyz):  # [4, 4], [N, 3] -> [N, 3]
    return xyz @ T[:3, :3].T + T[:3, 3]


# Four control points around a 60 m site, a check point inside it.
SITE_M = np.array(
    [[-30.0, -25.0, 0.5], [35.0, -20.0, -1.0], [28.0, 30.0, 2.0], [-25.0, 32.0, 0.0], [3, 2, 1.0]]
)
NAMES = ["GCP1", "GCP2", "GCP3", "GCP4", "CHK1"]


@pytest.fixture
def survey():
    """(marks name -> [3] in the map frame, control points, T_crs_map): surveyed = T @ mark +
    5 mm noise."""
    rng = np.random.default_rng(11)
    T = _T()
    xyz_map = SITE_M + rng.normal(0, 0.5, SITE_M.shape)
    xyz_crs = _apply(T, xyz_map) + rng.normal(0, 0.005, SITE_M.shape)
    marks = dict(zip(NAMES, xyz_map, strict=True))
    control = [ControlPoint(n, p, EPSG) for n, p in zip(NAMES, xyz_crs, strict=True)]
    return marks, control, T


def _moved(control, name, by_m):
    return [ControlPoint(c.name, c.xyz_m + by_m, c.epsg) if c.name == name else c for c in control]


# fit_transform


@pytest.mark.parametrize("scale", [False, True])
def test_fit_recovers_the_transform(scale):
    rng = np.random.default_rng(3)
    s_true = 1.0004 if scale else 1.0
    T_true = _T(yaw_deg=-112.0, tilt_deg=(2.0, 1.0), s=s_true)
    src = rng.uniform(-40, 40, (12, 3))
    dst = _apply(T_true, src) + rng.normal(0, 0.002, src.shape)
    T = fit_transform(src, dst, scale=scale)
    np.testing.assert_allclose(T[3], [0, 0, 0, 1])
    s = np.cbrt(np.linalg.det(T[:3, :3]))
    assert s == pytest.approx(s_true, abs=6e-5)  # the scale's sd here: 2e-5
    np.testing.assert_allclose(T[:3, :3] / s, T_true[:3, :3] / s_true, atol=1e-4)
    assert np.abs(_apply(T, src) - _apply(T_true, src)).max() < 0.003


def test_fit_is_exact_at_utm_size_and_never_reflects():
    rng = np.random.default_rng(4)
    src = rng.uniform(-50, 50, (3, 3))  # 3 points: the smallest fit
    T_true = _T()
    T = fit_transform(src, _apply(T_true, src))
    assert np.abs(_apply(T, src) - _apply(T_true, src)).max() < 1e-6  # far below 0.1 mm
    mirrored = src * [1, 1, -1]  # a mirror image has no rotation onto the points: det R stays +1
    assert np.linalg.det(fit_transform(src, mirrored)[:3, :3]) == pytest.approx(1.0)


def test_fit_refuses_too_few_or_collinear_points():
    line = np.outer(np.arange(5.0), [1.0, 2.0, 0.5]) + [500_000, 5_700_000, 100]
    with pytest.raises(GeorefError, match="collinear"):
        fit_transform(line, line)
    nearly = line + np.random.default_rng(5).normal(0, 1e-5, line.shape)
    with pytest.raises(GeorefError, match="collinear"):
        fit_transform(nearly, nearly)
    with pytest.raises(GeorefError, match="at least 3"):
        fit_transform(np.eye(3)[:2], np.eye(3)[:2])
    with pytest.raises(GeorefError):
        fit_transform(np.eye(3), np.eye(4)[:, :3])


# georeference


def test_clean_survey(survey):
    marks, control, T_true = survey
    g = georeference(marks, control, check=["CHK1"])
    assert g.epsg == EPSG and g.scale == 1.0
    assert [r.role for r in g.residuals] == ["control"] * 4 + ["check"]
    assert g.rms_m("check") < 0.01 and g.rms_m("control") < 0.01
    assert g.rms_m("excluded") is None
    assert not any(r.flagged for r in g.residuals)
    assert all(r.loo_m is not None and r.loo_m < 0.03 for r in g.residuals[:4])
    assert g.residuals[4].loo_m is None
    assert np.abs(_apply(g.T_crs_map, SITE_M) - _apply(T_true, SITE_M)).max() < 0.02
    d = json.loads(json.dumps(g.to_dict()))
    assert d["epsg"] == EPSG and len(d["residuals"]) == 5
    assert d["rms_m"]["check"] == pytest.approx(g.rms_m("check"))
    table = g.table()
    assert all(n in table for n in NAMES) and "RMS check" in table


def test_a_blunder_is_flagged_alone_and_excluding_it_cleans_the_fit(survey):
    marks, control, _ = survey
    bad = _moved(control, "GCP2", np.array([0.06, -0.08, 0.0]))  # 10 cm off
    g = georeference(marks, bad, check=["CHK1"])
    by_name = {r.name: r for r in g.residuals}
    assert [r.name for r in g.residuals if r.flagged] == ["GCP2"]
    assert by_name["GCP2"].loo_m == pytest.approx(0.10, abs=0.02)
    assert "> tol" in g.table()

    clean = georeference(marks, bad, check=["CHK1"], exclude=["GCP2"])
    assert clean.residuals[1].role == "excluded" and clean.residuals[1].flagged
    assert clean.residuals[1].norm_m == pytest.approx(0.10, abs=0.02)
    assert [r.name for r in clean.residuals if r.flagged] == ["GCP2"]  # only the excluded one
    assert clean.rms_m("control") < 0.01 and clean.rms_m("check") < 0.02  # 3 controls left


def test_blunder_among_more_controls(survey):
    marks, control, T = survey
    extra = {"GCP5": np.array([0.0, -40.0, 1.0]), "GCP6": np.array([-45.0, 5.0, -0.5])}
    rng = np.random.default_rng(12)
    marks = {**marks, **extra}
    control = control + [
        ControlPoint(n, _apply(T, p[None])[0] + rng.normal(0, 0.005, 3), EPSG)
        for n, p in extra.items()
    ]
    g = georeference(marks, _moved(control, "GCP5", np.array([0.0, 0.0, 0.1])), check=["CHK1"])
    assert [r.name for r in g.residuals if r.flagged] == ["GCP5"]
    # the others are tested again without the blunder
    assert all(r.loo_m < 0.03 for r in g.residuals if r.role == "control" and not r.flagged)


def test_controls_along_a_road_do_not_call_the_one_off_it_a_blunder():
    """Marks along a 180 m road (a hand's breadth either side of a line) and one 40 m off it:
    without that one, a rigid fit cannot hold the rotation about the road, and 5 mm of noise
    would put it decimetres off (a "blunder" on a clean survey). It gets no leave-one-out test
    (nor can any test check it: it alone holds that rotation); the road's points keep theirs."""
    road_m = np.array([[0, 0, 0], [60, 0.1, 0.05], [120, -0.1, 0.0], [180, 0.05, -0.05]])
    xyz_map = np.vstack([road_m, [[90.0, 40.0, 0.5]]])  # [5, 3]
    names = ["R1", "R2", "R3", "R4", "OFF"]
    rng = np.random.default_rng(3)
    T = _T()
    xyz_crs = _apply(T, xyz_map) + rng.normal(0, 0.005, xyz_map.shape)
    marks = dict(zip(names, xyz_map, strict=True))
    control = [ControlPoint(n, p, EPSG) for n, p in zip(names, xyz_crs, strict=True)]
    g = georeference(marks, control)
    by_name = {r.name: r for r in g.residuals}
    assert not any(r.flagged for r in g.residuals), g.table()
    assert by_name["OFF"].loo_m is None  # its others are the road: no test
    assert all(by_name[n].loo_m < 0.03 for n in names[:4])  # each with OFF among its others


def test_helmert_scale(survey):
    marks, control, _ = survey
    ppm = 300e-6
    scaled = {n: p / (1 + ppm) for n, p in marks.items()}  # the scan 300 ppm short
    g = georeference(scaled, control, check=["CHK1"], scale=True)
    assert g.scale == pytest.approx(1 + ppm, abs=1e-4)
    assert g.rms_m("check") < 0.01 and "ppm" in g.table()


def test_names_must_match(survey):
    marks, control, _ = survey
    with pytest.raises(GeorefError, match="CHK2"):
        georeference(marks, control, check=["CHK2"])  # a typo
    with pytest.raises(GeorefError, match="GCP9"):
        georeference(marks, control, exclude=["GCP9"])
    with pytest.raises(GeorefError, match="at least 3"):
        georeference(marks, control, check=["CHK1", "GCP1"], exclude=["GCP2"])
    marks = {**marks, "TREE": np.zeros(3)}
    g = georeference(marks, control[1:], check=["CHK1"])
    assert g.unmatched_marks == ("GCP1", "TREE") and g.unmatched_control == ()
    g = georeference({n: marks[n] for n in NAMES[1:]}, control, check=["CHK1"])
    assert g.unmatched_control == ("GCP1",)
    assert all(r.loo_m is None for r in g.residuals)  # 4 controls less one: no leave-one-out


# read_control_csv


def test_read_control_csv(tmp_path):
    path = tmp_path / "gcp.csv"
    path.write_text(
        "# surveyed 2025-03-04, GNSS RTK\n"
        "\n"
        "Z,Name,X,Y,EPSG\n"
        "312.105,GCP1,500100.123,5700400.456,25832\n"
        "  # a comment\n"
        '311.9,"GCP 2",500150.5,5700420.25,25832\n'
    )
    points = read_control_csv(path)
    assert [p.name for p in points] == ["GCP1", "GCP 2"]
    np.testing.assert_array_equal(points[0].xyz_m, [500100.123, 5700400.456, 312.105])
    assert points[1].epsg == EPSG

    path.write_text("name;easting;northing;height\nA;1;2;3\nB;4;5;6\nC;7;8;9\n")
    points = read_control_csv(path)
    assert len(points) == 3 and points[2].epsg is None


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("name,x,y,z\nA,1,2,3\nB,1,2O,3\n", r"gcp\.csv:3: northing '2O' is not a number"),
        ("name,x,y,z\n\nA,1,2,3\n# x\nB,1,2,nan\n", r"gcp\.csv:5: height 'nan' is not finite"),
        ("name,x,y,z,epsg\nA,1,2,3,25832\nB,1,2,3,25833\n", r"gcp\.csv:3: EPSG 25833 differs"),
        ("name,x,y,z\nA,1,2,3\nA,4,5,6\n", r"gcp\.csv:3: name 'A' already on line 2"),
        ("name,x,y,z\nA,1,2\n", r"gcp\.csv:2: 3 fields"),
        ("name,x,y\nA,1,2\n", r"header lacks height"),
        ("name,x,easting,y,z\n", r"given twice"),
        ("# nothing\n", r"no header"),
    ],
)
def test_bad_control_csv(tmp_path, body, match):
    path = tmp_path / "gcp.csv"
    path.write_text(body)
    with pytest.raises(GeorefError, match=match):
        read_control_csv(path)


# transform_las


@pytest.mark.parametrize("suffix", ["las", "laz"])
def test_transform_las(tmp_path, suffix):
    import laspy

    rng = np.random.default_rng(8)
    n = 3500
    cloud = MapCloud(
        rng.uniform(-30, 30, (n, 3)) * [1, 1, 0.2],
        rng.integers(0, 256, n).astype(np.float32),
        1.767e9 + np.sort(rng.uniform(0, 60, n)),
        rng.integers(0, 256, (n, 3)).astype(np.uint8),
        rng.random(n) < 0.7,
    )
    src = tmp_path / f"map.{suffix}"
    write_las(src, cloud)
    before = laspy.read(src)
    T = _T(s=1.0002)
    dst = tmp_path / f"map_crs.{suffix}"
    assert transform_las(src, dst, T, EPSG, chunk_points=1000) == n  # 4 chunks

    after = laspy.read(dst)
    assert after.header.version.minor == 4 and after.header.point_format.id == 7
    assert after.header.are_points_compressed == (suffix == "laz")
    np.testing.assert_array_equal(after.header.scales, [0.001] * 3)
    assert np.all(after.header.offsets <= after.xyz.min(axis=0))
    assert np.abs(after.xyz - _apply(T, before.xyz)).max() <= 0.001
    np.testing.assert_allclose(after.header.mins, after.xyz.min(axis=0))
    for dim in ("intensity", "gps_time", "red", "green", "blue", "user_data"):
        np.testing.assert_array_equal(after[dim], before[dim])
    assert after.header.parse_crs().to_epsg() == EPSG


def test_transform_las_keeps_extra_dimensions_and_needs_no_crs(tmp_path):
    import laspy

    rng = np.random.default_rng(9)
    header = laspy.LasHeader(point_format=3, version="1.2")
    header.add_extra_dim(laspy.ExtraBytesParams(name="range_m", type=np.float32))
    header.scales, header.offsets = [0.01] * 3, [0.0] * 3
    las = laspy.LasData(header)
    las.xyz = rng.uniform(-10, 10, (50, 3))
    las.classification = rng.integers(0, 20, 50)
    las.range_m = rng.uniform(0, 40, 50).astype(np.float32)
    las.write(tmp_path / "a.las")
    assert transform_las(tmp_path / "a.las", tmp_path / "b.las", _T(), None) == 50
    b = laspy.read(tmp_path / "b.las")
    assert b.header.parse_crs() is None
    np.testing.assert_array_equal(b.classification, las.classification)
    np.testing.assert_array_equal(b.range_m, las.range_m)
    with pytest.raises(GeorefError, match="same file"):
        transform_las(tmp_path / "a.las", tmp_path / "a.las", _T(), None)


def test_control_points_in_the_pose_graph_bend_a_drifted_scan(tmp_path):
    """A drifted L-shaped walk (0.25 deg of heading error a step): the rigid fit cannot bend
    it; the control points as priors in its pose graph bring the check points in between
    within a fraction of that."""
    from drivers.sessions.marks import Mark
    from products.georef import adjust_in_graph
    from slam.config import MappingConfig
    from slam.mapping import MappingResult
    from slam.pose_graph import PoseGraph
    from tests.slam.test_pose_graph import _drifted, _square_walk

    truth = _square_walk(n_side=6)[:13]  # [13, 4, 4] one anchor and one pose each, 5 m apart
    odom = _drifted(truth)
    graph = PoseGraph(MappingConfig(), levelled=True)
    for k, T in enumerate(odom):
        graph.add_anchor(T, 5.0 if k else 0.0)
    K = len(odom)
    result = MappingResult(
        folder=tmp_path, t_s=np.arange(K, dtype=float), T_world_lidar=odom,
        T_world_lidar_odometry=odom, submap_of_pose=np.arange(K), T_world_anchor=odom,
        T_world_anchor_odometry=odom, loops=[], rejected=0, optimise_s=0.0,
        between_cov=np.array(graph.between_cov), levelled=True,
    )  # fmt: skip
    ref = (0.0, 0.0, -0.25)
    marks = [Mark(f"P{k}", int(k * 1e9), ref) for k in range(K)]
    origin = np.array([500_000.0, 5_700_000.0, 100.0])
    control = [
        ControlPoint(f"P{k}", T[:3, :3] @ np.array(ref) + T[:3, 3] + origin, 25832)
        for k, T in enumerate(truth)
    ]
    check = [f"P{k}" for k in range(K) if k % 4]  # controls at 0, 4, 8, 12
    bent = adjust_in_graph(result, MappingConfig(), marks, control, check)
    before, after = bent.before.rms_m("check"), bent.after.rms_m("check")
    assert before > 0.1 and after < 0.25 * before, (before, after)
    assert bent.after.rms_m("control") < 0.02
    assert bent.T_world_lidar.shape == (K, 4, 4)
