"""Tests of the `scanner` command line: errors are one line and exit 2; `slam` runs end to end."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from plyfile import PlyData
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner, Result

import device.config
from device.cli import app
from tests.synthetic import make_room_scan, pose

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No /etc/scanner/scanner.toml and no SCANNER_* variables from the machine running tests."""
    monkeypatch.setattr(device.config, "DEFAULT_CONFIG_PATH", tmp_path / "absent" / "scanner.toml")
    for name in list(os.environ):
        if name.upper().startswith("SCANNER_"):
            monkeypatch.delenv(name)


def assert_one_line_error(result: Result, *fragments: str) -> None:
    """Exit status 2, one `error:` line on stderr mentioning every fragment, no traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_slam_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_scans"

    result = runner.invoke(app, ["slam", str(missing), "--out", str(tmp_path / "x.tum")])

    assert_one_line_error(result, "no_such_scans", "no such folder")
    assert not (tmp_path / "x.tum").exists()


def test_slam_empty_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    result = runner.invoke(app, ["slam", str(empty), "--out", str(tmp_path / "x.tum")])

    assert_one_line_error(result, "empty", "no .pcd, .ply or .npy scans")


def test_slam_bad_times_txt(tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    np.save(scans / "0.npy", np.zeros((10, 3)))
    (scans / "times.txt").write_text("0.0\n0.1\n")

    result = runner.invoke(app, ["slam", str(scans), "--out", str(tmp_path / "x.tum")])

    assert_one_line_error(result, "times.txt")


def test_slam_only_corrupt_scans(tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    (scans / "0.pcd").write_bytes(b"not a point cloud")

    result = runner.invoke(app, ["slam", str(scans), "--out", str(tmp_path / "x.tum")])

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert not (tmp_path / "x.tum").exists()


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        (None, "not found"),
        ("[slam\n", "not valid TOML"),
        ("[slam]\nmax_range_m = -5\n", "max_range_m"),
    ],
    ids=["missing", "not-toml", "invalid-value"],
)
def test_slam_bad_config(tmp_path: Path, toml: str | None, fragment: str) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    np.save(scans / "0.npy", np.zeros((10, 3)))
    config = tmp_path / "bad.toml"
    if toml is not None:
        config.write_text(toml)

    result = runner.invoke(
        app, ["slam", str(scans), "--out", str(tmp_path / "x.tum"), "--config", str(config)]
    )

    assert_one_line_error(result, "bad.toml", fragment)


# --- end to end -----------------------------------------------------------------------------

N_SCANS = 8


def true_poses() -> list[np.ndarray]:
    """T_world_lidar [4, 4] per scan: 0.1 m along x and 1 degree of yaw per scan, 1.5 m up."""
    return [pose(-1.0 + 0.1 * k, 0.0, 1.5, 1.0 * k) for k in range(N_SCANS)]


def write_room_scans(folder: Path, seed: int = 7) -> list[np.ndarray]:
    """The synthetic room seen from true_poses(): .npy scans and times.txt. Returns the poses."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    poses = true_poses()
    for k, T_world_lidar in enumerate(poses):
        np.save(folder / f"{k:06d}.npy", make_room_scan(T_world_lidar, 15_000, rng, noise_m=0.005))
    (folder / "times.txt").write_text("".join(f"{0.1 * k:.1f}\n" for k in range(N_SCANS)))
    return poses


@pytest.mark.parametrize("mode", [[], ["--odometry"]], ids=["mapping", "odometry"])
def test_slam_end_to_end(tmp_path: Path, mode: list[str]) -> None:
    poses = write_room_scans(tmp_path / "scans")
    traj, map_ply = tmp_path / "out" / "traj.tum", tmp_path / "out" / "map.ply"

    result = runner.invoke(
        app, ["slam", str(tmp_path / "scans"), "--out", str(traj), "--map", str(map_ply), *mode]
    )

    assert result.exit_code == 0, result.output
    assert f"{N_SCANS} poses" in result.stdout
    rows = np.loadtxt(traj, ndmin=2)
    assert rows.shape == (N_SCANS, 8)
    np.testing.assert_allclose(rows[:, 0], 0.1 * np.arange(N_SCANS), atol=1e-6)
    assert (tmp_path / "out" / "traj.tum.config.json").exists()
    assert (tmp_path / "out" / "map.ply.config.json").exists()
    assert PlyData.read(str(map_ply))["vertex"].count > 1000

    # The trajectory starts at identity, i.e. it is expressed in the first true pose's frame.
    np.testing.assert_allclose(rows[0, 1:], [0, 0, 0, 0, 0, 0, 1], atol=1e-9)
    T_est = np.eye(4)
    T_est[:3, :3] = Rotation.from_quat(rows[-1, 4:]).as_matrix()
    T_est[:3, 3] = rows[-1, 1:4]
    T_true = np.linalg.inv(poses[0]) @ poses[-1]
    err = np.linalg.inv(T_true) @ T_est
    assert np.linalg.norm(err[:3, 3]) < 0.03  # metres
    assert np.degrees(Rotation.from_matrix(err[:3, :3]).magnitude()) < 0.5


def _slam_keeping_submaps(tmp_path: Path, submaps: Path):
    out = str(tmp_path / "t.tum")
    return runner.invoke(
        app, ["slam", str(tmp_path / "scans"), "--out", out, "--submaps", str(submaps)]
    )


def test_slam_keeps_the_submaps(tmp_path: Path) -> None:
    write_room_scans(tmp_path / "scans")
    submaps = tmp_path / "submaps"

    result = _slam_keeping_submaps(tmp_path, submaps)

    assert result.exit_code == 0, result.output
    assert "1 submaps, 0 loops closed" in result.stdout
    graph = json.loads((submaps / "graph.json").read_text())
    assert graph["complete"] and graph["submaps"] == 1
    assert (submaps / "00000.npz").exists()


def test_slam_refuses_a_submaps_folder_with_other_files(tmp_path: Path) -> None:
    write_room_scans(tmp_path / "scans")
    precious = tmp_path / "work" / "notes.txt"
    precious.parent.mkdir()
    precious.write_text("not the scanner's")

    result = _slam_keeping_submaps(tmp_path, precious.parent)

    assert_one_line_error(result, "notes.txt", "empty or new folder")
    assert precious.read_text() == "not the scanner's"
    assert not (tmp_path / "t.tum").exists()


# --- other commands -------------------------------------------------------------------------


def test_config_show() -> None:
    result = runner.invoke(app, ["config", "show"])

    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert "slam" in shown
    assert shown["slam"]["max_range_m"] == 100.0


def test_config_show_with_file(tmp_path: Path) -> None:
    config = tmp_path / "scanner.toml"
    config.write_text("[slam]\nmax_range_m = 50.0\n")

    result = runner.invoke(app, ["config", "show", "--config", str(config)])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["slam"]["max_range_m"] == 50.0


def test_config_show_bad_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "show", "--config", str(tmp_path / "gone.toml")])

    assert_one_line_error(result, "gone.toml")


def test_bench_without_data(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    result = runner.invoke(app, ["bench", "--data", str(empty), "--out", str(tmp_path / "b.md")])

    assert_one_line_error(result)
    assert not (tmp_path / "b.md").exists()


def test_sim_scenes_lists_the_four_scenes() -> None:
    result = runner.invoke(app, ["sim", "scenes"])
    assert result.exit_code == 0
    for name in ("office", "corridor", "courtyard", "stairwell"):
        assert name in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--scene", "moon"], "unknown scene"),
        (["--motion", "run"], "unknown motion"),
        (["--realism", "kind"], "unknown realism"),
        (["--set", "lidar.rain=on"], "unknown error setting"),
        (["--set", "lidar.glass"], "KEY=VALUE"),
        (["--set", "lidar.glass=maybe"], "on or off"),
    ],
)
def test_sim_generate_rejects_bad_arguments(tmp_path: Path, args: list[str], fragment: str) -> None:
    result = runner.invoke(app, ["sim", "generate", "--out", str(tmp_path / "s"), *args])
    assert result.exit_code == 2
    assert fragment in result.stderr and "Traceback" not in result.output


def test_sim_generate_writes_a_session(tmp_path: Path) -> None:
    out = tmp_path / "s"
    result = runner.invoke(
        app,
        [
            "sim",
            "generate",
            "--scene",
            "corridor",
            "--duration",
            "0.5",
            "--camera-rate",
            "4",
            "--realism",
            "harsh",
            "--set",
            "dynamics.people=0",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "session.json").exists() and (out / "raw.mcap").stat().st_size > 100_000
    realism = json.loads((out / "session.json").read_text())["config"]["sim"]["realism"]
    assert realism["name"] == "harsh+" and realism["dynamics"]["people"] == 0
    again = runner.invoke(app, ["sim", "generate", "--out", str(out)])
    assert again.exit_code == 2 and "not an empty folder" in again.stderr


def test_record_refuses_to_start_below_the_storage_reserve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device.config, "DEFAULT_CONFIG_PATH", tmp_path / "none.toml")
    monkeypatch.setenv("SCANNER_STORAGE_RESERVE_MB", str(10**12))
    result = runner.invoke(app, ["record", "--out", str(tmp_path / "s"), "--duration", "1"])
    assert result.exit_code == 2 and "must stay free" in result.stderr
    assert not (tmp_path / "s").exists()


def test_splat_train_takes_its_settings_from_the_config_unless_given(processed, tmp_path):
    """[splat] sets the training; an option given on the command line overrides just that one
    (the options used to carry their own defaults: 30,000 iterations on `cuda`, whatever the
    config said)."""
    config = tmp_path / "scanner.toml"
    config.write_text(
        '[splat]\niterations = 4\ndevice = "cpu"\nimage_scale = 0.25\nmap_voxel_m = 0.3\n'
        "align_steps = 0\nblind_zone = false\npose_refine = false\n"
    )
    out = tmp_path / "a"
    r = runner.invoke(
        app, ["splat", "train", str(processed), "--out", str(out), "--config", str(config)]
    )
    assert r.exit_code == 0, r.output
    saved = json.loads((out / "splat.json").read_text())
    assert saved["iterations"] == 4 and saved["device"] == "cpu"
    assert saved["config"]["image_scale"] == 0.25 and saved["config"]["align_steps"] == 0
    out = tmp_path / "b"
    r = runner.invoke(
        app,
        ["splat", "train", str(processed), "--out", str(out), "--config", str(config),
         "--iters", "3", "--scale", "0.125"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    saved = json.loads((out / "splat.json").read_text())
    assert saved["iterations"] == 3 and saved["config"]["image_scale"] == 0.125
    assert saved["config"]["map_voxel_m"] == 0.3  # the rest still the config's
