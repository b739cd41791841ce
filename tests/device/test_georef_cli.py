"""`scanner georef` end to end: a twin scan with control points marked on the way, tied to
their surveyed coordinates; a check point held out; a control point surveyed wrong is flagged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import laspy
import numpy as np
import pye57
from typer.testing import CliRunner

from device.cli import app
from drivers.sessions.trajectory import read_tum
from drivers.sim.generate import CONTROL, CONTROL_EPSG, CONTROL_ORIGIN_M, write_control

runner = CliRunner()


def test_a_scan_tied_to_control_points(twin_session: Path, tmp_path: Path) -> None:
    session = tmp_path / "scan"
    shutil.copytree(twin_session, session)
    t, T = read_tum(session / "ground_truth.tum")
    k = np.searchsorted(t, t[0] + np.array([1.5, 2.5, 3.5, 4.5, 5.5]))  # along the walk
    names = ["CP1", "CP2", "CP3", "CP4", "CP5"]
    write_control(session, names, t[k], T[k])  # marks.jsonl and control.csv

    result = runner.invoke(
        app, ["georef", str(session), "--control", str(session / CONTROL), "--check", "CP5"]
    )
    assert result.exit_code == 0, result.output
    out = session / "products" / "georef"
    geo = json.loads((out / "georef.json").read_text())
    assert geo["epsg"] == CONTROL_EPSG
    rms = {r: geo["rms_m"][r] for r in ("control", "check")}
    assert rms["check"] < 0.03 and rms["control"] < 0.03, rms  # the SLAM's own error
    assert "CP5" in result.output and "check" in result.output  # the residual table
    las = laspy.read(out / "map.laz")
    assert las.header.parse_crs().to_epsg() == CONTROL_EPSG
    assert abs(np.median(las.x) - CONTROL_ORIGIN_M[0]) < 100  # in the CRS now
    assert len(las.points) > 1000
    e57 = pye57.E57(str(out / "map.e57"))  # the map frame's points, the pose into the CRS
    assert "UTM zone 32N" in e57.root["coordinateMetadata"].value()
    scan = e57.read_scan(0, transform=True, ignore_missing_fields=True)
    assert abs(np.median(scan["cartesianX"]) - np.median(las.x)) < 0.05  # the same map
    report = (out / "report.html").read_text()
    assert "CP5" in report and "EPSG 25832" in report and "<img" in report
    t_geo, T_geo = read_tum(out / "trajectory.tum")
    assert len(t_geo) > 10 and abs(np.median(T_geo[:, 1, 3]) - CONTROL_ORIGIN_M[1]) < 100

    rows = (session / CONTROL).read_text().splitlines()  # CP2 surveyed 10 cm off
    name, e, n, h, epsg = rows[2].split(",")
    rows[2] = ",".join([name, f"{float(e) + 0.10:.4f}", n, h, epsg])
    (tmp_path / "wrong.csv").write_text("\n".join(rows) + "\n")
    bad = runner.invoke(
        app, ["georef", str(session), "--control", str(tmp_path / "wrong.csv"), "--check", "CP5"]
    )
    assert bad.exit_code == 0, bad.output
    assert "flagged" in bad.output and "CP2" in bad.output
    geo = json.loads((session / "products" / "georef" / "georef.json").read_text())
    flagged = [r["name"] for r in geo["residuals"] if r["flagged"]]
    assert flagged == ["CP2"], geo["residuals"]

    rigid = runner.invoke(
        app, ["georef", str(session), "--control", str(session / CONTROL), "--adjust", "rigid"]
    )
    assert rigid.exit_code == 0, rigid.output
    assert "before" not in rigid.output and (out / "map.e57").exists()


def test_georef_refuses_a_scan_without_marks_and_a_bad_file(
    twin_session: Path, tmp_path: Path
) -> None:
    session = tmp_path / "scan"
    shutil.copytree(twin_session, session)
    (tmp_path / "c.csv").write_text("name,easting,northing,height\nA,1,2,x\n")
    result = runner.invoke(app, ["georef", str(session), "--control", str(tmp_path / "c.csv")])
    assert result.exit_code == 2 and "no marks" in result.output
