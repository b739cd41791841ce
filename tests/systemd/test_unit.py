"""Tests of the files in systemd/: the unit verifies and has its key settings, install.sh is
valid sh, the example config is valid TOML and a valid configuration, the polkit rule allows
what it should."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from device.button import ButtonConfig
from device.config import load_config
from device.led import LedConfig

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
UNIT = SYSTEMD / "scanner.service"
EXEC = "/opt/scanner/.venv/bin/scanner"

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here"
)


def existing_program() -> str:
    """An executable that exists here, to stand in for the installed /opt/scanner one."""
    script = Path(sys.executable).parent / "scanner"
    return str(script if os.access(script, os.X_OK) else Path(sys.executable))


def verify(unit_text: str, tmp_path: Path) -> list[str]:
    """Run `systemd-analyze verify` on a copy; -> its complaints about the unit (none: clean)."""
    unit = tmp_path / "scanner.service"
    unit.write_text(unit_text)
    args = ["systemd-analyze", "verify", "--man=no"]
    help_text = subprocess.run(
        ["systemd-analyze", "--help"], capture_output=True, text=True, check=False
    ).stdout
    if "--recursive-errors" in help_text:  # systemd 250+: the system's other units are not ours
        args.append("--recursive-errors=no")
    res = subprocess.run([*args, str(unit)], capture_output=True, text=True, timeout=60)
    # verify exits 0 on some problems (an unknown key or value is "ignoring"); its messages name
    # the unit, so any line that does is a complaint.
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if "scanner.service" in ln]
    if res.returncode != 0:
        lines.append(f"exit status {res.returncode}: {res.stderr.strip()}")
    return lines


def runnable_unit() -> str:
    text = UNIT.read_text()
    assert EXEC in text
    return text.replace(EXEC, existing_program())


@needs_analyze
def test_unit_verifies(tmp_path: Path) -> None:
    assert verify(runnable_unit(), tmp_path) == []


@needs_analyze
@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("Type=notify", "Type=notifyy"),  # a bad value
        ("WatchdogSec=30", "WatchdogSecs=30"),  # an unknown key
        ("ProtectSystem=strict", "ProtectSystem=strickt"),
        ("[Install]", "[Instal]"),  # an unknown section
    ],
)
def test_verify_catches_typos(tmp_path: Path, old: str, new: str) -> None:
    text = runnable_unit()
    assert old in text
    assert verify(text.replace(old, new, 1), tmp_path) != []


@needs_analyze
def test_verify_catches_a_missing_program(tmp_path: Path) -> None:
    text = UNIT.read_text().replace(EXEC, str(tmp_path / "no-such-scanner"))
    assert verify(text, tmp_path) != []


def unit_config() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def all_values(key: str) -> list[str]:
    """Every value of a key that may be repeated (configparser keeps only the last)."""
    pattern = re.compile(rf"^{re.escape(key)}=(.*)$")
    return [m.group(1).strip() for ln in UNIT.read_text().splitlines() if (m := pattern.match(ln))]


def test_unit_key_settings() -> None:
    unit = unit_config()
    svc = unit["Service"]
    assert svc["Type"] == "notify"
    assert svc["NotifyAccess"] == "main"
    assert svc["ExecStart"] == f"{EXEC} run --config /etc/scanner/scanner.toml"
    assert int(svc["WatchdogSec"]) == 30
    assert svc["Restart"] == "on-failure"
    assert svc["User"] == svc["Group"] == "scanner"
    assert svc["ProtectSystem"] == "strict"
    assert svc["StateDirectory"] == "scanner"
    assert svc["KillSignal"] == "SIGINT"
    assert int(svc["TimeoutStopSec"]) >= 30
    assert "PYTHONUNBUFFERED=1" in svc["Environment"]
    for key in ("ProtectHome", "PrivateTmp", "NoNewPrivileges", "ProtectKernelTunables"):
        assert svc[key] == "yes", key
    assert set(svc["RestrictAddressFamilies"].split()) >= {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert "MemoryDenyWriteExecute" not in svc  # numba JIT needs it off
    rw = " ".join(all_values("ReadWritePaths")).split()
    assert "/var/lib/scanner" in rw
    assert unit["Unit"]["After"] == unit["Unit"]["Wants"] == "network-online.target"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_install_script_is_valid_sh() -> None:
    script = SYSTEMD / "install.sh"
    assert os.access(script, os.X_OK)
    res = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "set -eu" in script.read_text()


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_install_script_is_shellcheck_clean() -> None:
    res = subprocess.run(
        ["shellcheck", "-s", "sh", str(SYSTEMD / "install.sh")], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout


def test_install_script_installs_files_that_exist() -> None:
    text = (SYSTEMD / "install.sh").read_text()
    named = set(re.findall(r'"\$SRC/systemd/([^"]+)"', text))
    assert {"scanner.service", "99-scanner-imu.rules", "50-scanner-poweroff.rules"} <= named
    assert "scanner.toml.example" in named
    for name in named:
        assert (SYSTEMD / name).is_file(), name


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("SCANNER_"):
            monkeypatch.delenv(name)
    example = SYSTEMD / "scanner.toml.example"
    data = tomllib.loads(example.read_text())
    for section in ("lidar", "imu", "camera", "api", "button", "led", "slam"):
        assert isinstance(data.get(section), dict), section
    assert ButtonConfig(**data["button"]) == ButtonConfig()  # the example shows the defaults
    assert LedConfig(**data["led"]) == LedConfig()
    cfg = load_config(example)
    assert cfg.data_dir == Path("/var/lib/scanner")
    assert cfg.api.port == 8080


POLKIT_HARNESS = """
const fs = require("fs");
let rule = null;
const polkit = { Result: { YES: "yes", NO: "no" }, addRule: (f) => { rule = f; } };
new Function("polkit", fs.readFileSync(process.argv[2], "utf8"))(polkit);
const ask = (id, user) => String(rule({ id: id }, { user: user }));
console.log(JSON.stringify([
  ask("org.freedesktop.login1.power-off", "scanner"),
  ask("org.freedesktop.login1.power-off-multiple-sessions", "scanner"),
  ask("org.freedesktop.login1.power-off", "alice"),
  ask("org.freedesktop.login1.reboot", "scanner"),
]));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_polkit_rule_allows_power_off_to_scanner_only(tmp_path: Path) -> None:
    harness = tmp_path / "harness.js"
    harness.write_text(POLKIT_HARNESS)
    res = subprocess.run(
        ["node", str(harness), str(SYSTEMD / "50-scanner-poweroff.rules")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == '["yes","yes","undefined","undefined"]'
