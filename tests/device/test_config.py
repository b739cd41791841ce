"""Tests of device.config: sources (defaults, TOML file, environment), validation, snapshots."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import device.config
from device.config import ConfigError, ScannerConfig, load_config, save_snapshot
from slam.config import OdometryConfig


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No /etc/scanner/scanner.toml and no SCANNER_* variables from the machine running tests."""
    monkeypatch.setattr(device.config, "DEFAULT_CONFIG_PATH", tmp_path / "absent" / "scanner.toml")
    for name in list(os.environ):
        if name.upper().startswith("SCANNER_"):
            monkeypatch.delenv(name)


def write_toml(tmp_path: Path, text: str, name: str = "scanner.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_without_a_file() -> None:
    cfg = load_config()

    assert cfg.slam == OdometryConfig()
    assert cfg.data_dir == Path("/var/lib/scanner")


def test_default_path_is_used_when_it_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_toml(tmp_path, "[slam]\nmax_range_m = 42.0\n")
    monkeypatch.setattr(device.config, "DEFAULT_CONFIG_PATH", path)

    assert load_config().slam.max_range_m == 42.0


def test_file_sets_values(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'data_dir = "/data/scans"\n[slam]\nmax_range_m = 50.0\n')

    cfg = load_config(path)

    assert cfg.slam.max_range_m == 50.0
    assert cfg.data_dir == Path("/data/scans")
    assert cfg.slam.min_range_m == OdometryConfig().min_range_m  # the rest stays default


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_toml(tmp_path, "[slam]\nmax_range_m = 50.0\nmin_range_m = 1.0\n")
    monkeypatch.setenv("SCANNER_SLAM__MAX_RANGE_M", "30")

    cfg = load_config(path)

    assert cfg.slam.max_range_m == 30.0
    assert cfg.slam.min_range_m == 1.0  # the file's other values survive the override


def test_environment_without_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCANNER_SLAM__MAX_ITERATIONS", "7")

    assert load_config().slam.max_iterations == 7


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ("[slam]\nmax_range_m = -1.0\n", "max_range_m"),
        ("[slam]\nmin_range_m = 5.0\nmax_range_m = 4.0\n", "min_range_m"),
        ("[slam]\nmin_range_m = 4.0\nmax_range_m = 4.0\n", "min_range_m"),
        ("[slam]\nmax_iterations = 2.5\n", "max_iterations"),
        ('[slam]\ndeskew = "perhaps"\n', "deskew"),
    ],
    ids=["negative-range", "min-above-max", "min-equals-max", "fractional-int", "bad-bool"],
)
def test_invalid_value_names_the_field(tmp_path: Path, toml: str, field: str) -> None:
    path = write_toml(tmp_path, toml)

    with pytest.raises(ConfigError) as info:
        load_config(path)

    message = str(info.value)
    assert field in message and str(path) in message
    assert "\n" not in message  # one line, for the CLI


def test_invalid_environment_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCANNER_SLAM__MAX_RANGE_M", "far")

    with pytest.raises(ConfigError, match="max_range_m"):
        load_config()


def test_environment_breaking_a_cross_field_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_toml(tmp_path, "[slam]\nmin_range_m = 60.0\n")
    monkeypatch.setenv("SCANNER_SLAM__MAX_RANGE_M", "30")

    with pytest.raises(ConfigError, match="min_range_m"):
        load_config(path)


@pytest.mark.parametrize(
    ("toml", "key"),
    [("[slam]\nmax_rnage_m = 50.0\n", "max_rnage_m"), ("colour = 'red'\n", "colour")],
    ids=["in-section", "top-level"],
)
def test_unknown_key(tmp_path: Path, toml: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_config(write_toml(tmp_path, toml))


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_explicit_folder_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path)


def test_unreadable_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder where the default file should be: ConfigError, not an OSError traceback."""
    folder = tmp_path / "scanner.toml"
    folder.mkdir()
    monkeypatch.setattr(device.config, "DEFAULT_CONFIG_PATH", folder)

    with pytest.raises(ConfigError, match="cannot read"):
        load_config()


@pytest.mark.parametrize(
    "text",
    ["[slam\nmax_range_m = 1\n", "max_range_m = \n", "\xff\xfe not toml"],
    ids=["unclosed-table", "no-value", "binary"],
)
def test_invalid_toml(tmp_path: Path, text: str) -> None:
    path = tmp_path / "scanner.toml"
    path.write_bytes(text.encode("latin-1"))

    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_save_snapshot_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_toml(tmp_path, "[slam]\nmax_range_m = 50.0\nplane_neighbors = 6\n")
    monkeypatch.setenv("SCANNER_SLAM__DESKEW", "false")
    cfg = load_config(path)
    monkeypatch.delenv("SCANNER_SLAM__DESKEW")  # the snapshot alone must give the config back
    output = tmp_path / "run" / "traj.tum"
    output.parent.mkdir()

    snap = save_snapshot(cfg, output)

    assert snap == tmp_path / "run" / "traj.tum.config.json"
    data = json.loads(snap.read_text())
    assert data["slam"]["max_range_m"] == 50.0 and data["slam"]["deskew"] is False
    assert ScannerConfig(**data) == cfg
    assert OdometryConfig(**data["slam"]) == cfg.slam
