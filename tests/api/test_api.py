"""The API end to end, over real HTTP and WebSocket, against a daemon on emulated sensors."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from device.live import KIND_TRAJECTORY, KIND_UPDATE, unpack
from drivers.sessions.manifest import read_manifest
from tests.api.conftest import TOKEN


def ws_url(scanner, token: str | None = TOKEN) -> str:
    url = scanner.url.replace("http://", "ws://") + "/api/v1/live"
    return url + (f"?token={token}" if token else "")


def test_health_needs_no_token(scanner):
    with scanner.client(token=None) as c:
        assert c.get("/api/v1/health").json() == {"ok": True}
        assert c.get("/").status_code == 200  # the UI itself
        assert "<html" in c.get("/").text.lower()


@pytest.mark.parametrize("token", [None, "wrong-token"])
@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/v1/status"),
        ("GET", "/api/v1/scans"),
        ("POST", "/api/v1/scans"),
        ("POST", "/api/v1/button"),
        ("GET", "/api/v1/scans/x/products/map.ply"),
        ("DELETE", "/api/v1/scans/x"),
        ("POST", "/api/v1/scans/x/process"),
        ("POST", "/api/v1/scans/x/marks"),
        ("GET", "/api/v1/scans/x/marks"),
        ("POST", "/api/v1/scans/x/georef"),
        ("GET", "/api/v1/scans/x/georef"),
        ("GET", "/api/v1/scans/x/map/hierarchy"),
        ("POST", "/api/v1/scans/x/map"),
        ("GET", "/api/v1/sites/x/map/nodes/0-0-0-0"),
        ("GET", "/metrics"),
    ],
)
def test_every_route_needs_the_token(scanner, token, method, path):
    with scanner.client(token=token) as c:
        r = c.request(method, path)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert scanner.daemon.sm.state.value == "idle"  # nothing was started by the refused POSTs


def test_websocket_refuses_a_wrong_token(scanner):
    for token in (None, "nope"):
        with pytest.raises(InvalidStatus) as exc, connect(ws_url(scanner, token)):
            pass
        assert exc.value.response.status_code == 403  # the close before accept, as HTTP


def test_status_reports_sensor_health_while_idle(scanner):
    with scanner.client() as c:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            st = c.get("/api/v1/status").json()
            # the rates are counted over 1 s windows: the first ones may hold the start-up
            # or, on a loaded 2-core CI machine, a stall of the emulator
            if all(st["sensors"][s]["connected"] for s in ("lidar", "external_imu", "camera")) and (
                8 < st["sensors"]["lidar"]["rate_hz"] < 12
            ):
                break
            time.sleep(0.2)
    assert st["state"] == "idle" and st["scan_id"] is None
    # the Mid-360's points and its own IMU, the serial IMU and the camera, each on its own
    assert set(st["sensors"]) == {"lidar", "imu", "external_imu", "camera"}
    assert all(s["connected"] for s in st["sensors"].values()), st["sensors"]
    assert 8 < st["sensors"]["lidar"]["rate_hz"] < 12
    assert st["sensors"]["imu"]["messages"] > 0
    assert st["storage"]["free_bytes"] > 0


def test_bad_requests_get_their_answers(scanner):
    with scanner.client() as c:
        r = c.get("/api/v1/scans/no-such-scan")  # the device's error, in its words (api/errors.py)
        assert r.status_code == 404 and r.json() == {"detail": "no such scan: no-such-scan"}
        assert c.post("/api/v1/scans/no-such-scan/stop").status_code == 404
        assert c.delete("/api/v1/scans/no-such-scan").status_code == 404
        assert c.post("/api/v1/scans/no-such-scan/process").status_code == 404
        for name in ("..", "..%2Fsession.json", "%2E%2E%2Fsession.json", "nope.ply"):
            assert c.get(f"/api/v1/scans/x/products/{name}").status_code == 404, name
        assert c.post("/api/v1/button", json={"press": "sideways"}).status_code == 422
        assert c.post("/api/v1/button", json={"press": "short", "x": 1}).status_code == 422
        r = c.post(
            "/api/v1/button", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert r.status_code == 422
        assert c.get("/api/v1/status").json()["state"] == "idle"


def _read_live(scanner, seconds: float) -> list[dict]:
    out = []
    with connect(ws_url(scanner), max_size=None) as ws:
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            msg = ws.recv(timeout=2.0)
            if isinstance(msg, bytes):
                m = unpack(msg)
                m["received"] = time.monotonic()
                out.append(m)
    return out


def test_a_scan_end_to_end(scanner):
    """Start, live view, stop, processing, download with a Range resume, delete."""
    with scanner.client() as c:
        r = c.post("/api/v1/scans")
        assert r.status_code == 201, r.text
        scan = r.json()
        sid = scan["id"]
        assert scan["state"] == "recording"
        assert c.post("/api/v1/scans").status_code == 409  # one scan at a time
        st = c.get("/api/v1/status").json()
        assert st["state"] == "scanning" and st["scan_id"] == sid

        live = _read_live(scanner, 3.0)
        updates = [m for m in live if m["kind"] == KIND_UPDATE]
        assert live[0]["kind"] == KIND_TRAJECTORY  # a client first gets the path so far
        assert len(updates) >= 5 * 2.5  # at least 5 a second
        n_points = sum(len(m["points"]) for m in updates)
        assert n_points > 1000
        assert np.isfinite(np.concatenate([m["points"] for m in updates])).all()
        lags = [m["lag_s"] for m in updates[-5:]]  # kept up: no backlog (a closing submap
        assert np.median(lags) < 1.0 and max(lags) < 3.0, lags  # briefly costs a second)

        st = c.get("/api/v1/status").json()
        assert st["slam"]["poses"] > 5 and st["slam"]["map_points"] >= n_points
        assert st["recording"]["messages"] > 100
        assert st["slam"]["first_pose_s"] < 3.0

        r = c.post(f"/api/v1/scans/{sid}/stop")
        assert r.status_code == 202
        assert c.post(f"/api/v1/scans/{sid}/stop").status_code == 409  # already stopping
        scanner.wait_state(c, {"idle", "error"}, timeout_s=90)
        done = c.get(f"/api/v1/scans/{sid}").json()
        assert done["state"] == "done", done
        assert {"map.ply", "trajectory.tum", "report.html"} <= set(done["products"])
        # the camera coloured the map: a 90 degree camera sees under a quarter of a 360 degree
        # map, and how much depends on where in the looping walk the scan starts
        assert done["stats"]["slam"]["coloured_fraction"] > 0.01
        assert sid in [s["id"] for s in c.get("/api/v1/scans").json()]

        url = f"/api/v1/scans/{sid}/products/map.ply"
        whole = c.get(url)
        assert whole.status_code == 200 and whole.content.startswith(b"ply\n")
        # an interrupted download resumes where it broke off
        cut = len(whole.content) // 3
        part = c.get(url, headers={"Range": f"bytes={cut}-"})
        assert part.status_code == 206
        assert (
            part.headers["content-range"]
            == f"bytes {cut}-{len(whole.content) - 1}/{len(whole.content)}"
        )
        assert whole.content[:cut] + part.content == whole.content
        # a plain browser link carries the token as a query parameter
        with scanner.client(token=None) as anon:
            assert anon.get(url, params={"token": TOKEN}).content == whole.content
            assert anon.get(url, params={"token": "bad"}).status_code == 401
        tum = c.get(f"/api/v1/scans/{sid}/products/trajectory.tum").text.splitlines()
        assert len(tum) > 10 and len(tum[0].split()) == 8

        metrics = c.get("/metrics").text
        assert 'scanner_state{state="idle"} 1.0' in metrics
        assert "scanner_scans_started_total" in metrics
        assert 'scanner_sensor_connected{sensor="lidar"} 1.0' in metrics

        # each sensor's messages and losses over the scan are in session.json
        sensors = {x.name: x for x in read_manifest(scanner.daemon.store.root / sid).sensors}
        sweeps = sensors["lidar"].messages  # 10 Hz; how many depends on the machine's load
        assert sweeps >= 20 and sensors["lidar"].drops == 0
        assert sensors["external_imu"].messages > 30 * sweeps  # 400 Hz
        assert sensors["camera"].messages > 5
        assert sensors["imu"].messages > 15 * sweeps  # the Mid-360's own 200 Hz, on its own

        # its products made again (a new config, a cut-off run), in the background, once at a time
        assert c.post(f"/api/v1/scans/{sid}/process").status_code == 202
        assert c.post(f"/api/v1/scans/{sid}/process").status_code == 409
        assert c.delete(f"/api/v1/scans/{sid}").status_code == 409
        deadline = time.monotonic() + 90
        while (again := c.get(f"/api/v1/scans/{sid}").json())["state"] != "done" or again[
            "progress"
        ] is not None:
            assert time.monotonic() < deadline, again
            time.sleep(0.2)
        assert c.get("/api/v1/status").json()["state"] == "idle"  # the scanner stayed free

        assert c.delete(f"/api/v1/scans/{sid}").status_code == 204
        assert c.get(f"/api/v1/scans/{sid}").status_code == 404
        assert c.get(url).status_code == 404


def test_two_clients_pressing_start_at_once_get_one_scan(scanner):
    with scanner.client() as c:
        scanner.wait_state(c, {"idle"})
        n_before = len(c.get("/api/v1/scans").json())
    barrier = threading.Barrier(4)
    codes: list[int] = []

    def press() -> None:
        with scanner.client() as c:
            barrier.wait()
            codes.append(c.post("/api/v1/scans").status_code)

    threads = [threading.Thread(target=press) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [201, 409, 409, 409]
    with scanner.client() as c:
        scans = c.get("/api/v1/scans").json()
        assert len(scans) == n_before + 1
        sid = c.get("/api/v1/status").json()["scan_id"]
        time.sleep(2.5)
        assert c.post(f"/api/v1/scans/{sid}/stop").status_code == 202
        scanner.wait_state(c, {"idle", "error"}, timeout_s=90)


def test_the_button_route_starts_and_stops(scanner):
    with scanner.client() as c:
        scanner.wait_state(c, {"idle"})
        r = c.post("/api/v1/button")  # no body: a short press
        assert r.status_code == 200 and r.json()["action"].startswith("started")
        assert r.json()["state"] == "scanning"
        time.sleep(2.5)  # the filter needs a second of IMU before its first pose
        r = c.post("/api/v1/button", json={"press": "short"})
        assert r.json()["action"].startswith("stopping")
        st = scanner.wait_state(c, {"idle", "error"}, timeout_s=90)
        assert st["state"] == "idle", st


def test_an_unplugged_imu_shows_and_the_scan_goes_on(scanner):
    with scanner.client() as c:
        scanner.wait_state(c, {"idle"})
        sid = c.post("/api/v1/scans").json()["id"]
        time.sleep(1.0)
        scanner.emulator.imu.stop()  # the serial IMU's cable is pulled
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                st = c.get("/api/v1/status").json()
                if not st["sensors"]["external_imu"]["connected"]:
                    break
                time.sleep(0.2)
            assert not st["sensors"]["external_imu"]["connected"]
            assert st["state"] == "scanning" and st["sensors"]["lidar"]["connected"]
            poses = st["slam"]["poses"]
            time.sleep(1.0)
            assert c.get("/api/v1/status").json()["slam"]["poses"] > poses  # still mapping
        finally:
            scanner.emulator.imu.start()  # plugged back in for the tests after this one
        assert c.post(f"/api/v1/scans/{sid}/stop").status_code == 202
        scanner.wait_state(c, {"idle", "error"}, timeout_s=90)
        scan = c.get(f"/api/v1/scans/{sid}").json()
        assert scan["state"] == "done" and scan["stats"]["lidar_sweeps"] > 10


def test_marks_over_the_api(scanner):
    with scanner.client() as c:
        assert c.post("/api/v1/scans/x/marks", json={"name": "A"}).status_code == 404
        # the scan in one lap of the looped walk, never jumping back to its start
        assert scanner.emulator.wait_for_lap()
        sid = c.post("/api/v1/scans").json()["id"]
        assert c.post(f"/api/v1/scans/{sid}/marks", json={"name": "A"}).status_code == 201
        scanner.wait_state(c, {"scanning"})
        deadline = time.monotonic() + 20
        while c.get("/api/v1/status").json()["slam"]["poses"] < 5:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        r = c.post(f"/api/v1/scans/{sid}/marks", json={"name": "CP 7"})
        assert r.status_code == 201 and r.json()["source"] == "api"
        assert len(r.json()["position_m"]) == 3  # live SLAM's estimate
        assert c.post(f"/api/v1/scans/{sid}/marks").json()["name"] == "M01"  # no name given
        for _ in range(2):  # two more, a second apart
            time.sleep(1.0)
            assert c.post(f"/api/v1/scans/{sid}/marks").status_code == 201
        assert c.post(f"/api/v1/scans/{sid}/marks", json={"name": "A"}).status_code == 409
        assert c.post(f"/api/v1/scans/{sid}/marks", json={"name": "a,b"}).status_code == 422
        assert c.post(f"/api/v1/scans/{sid}/marks", json={"nom": "x"}).status_code == 422
        assert [m["name"] for m in c.get(f"/api/v1/scans/{sid}/marks").json()] == [
            "A", "CP 7", "M01", "M02", "M03",
        ]  # fmt: skip
        assert c.post(f"/api/v1/scans/{sid}/stop").status_code == 202
        scanner.wait_state(c, {"idle"}, timeout_s=120)
        assert c.post(f"/api/v1/scans/{sid}/marks").status_code == 409  # not scanning
        marks = c.get(f"/api/v1/scans/{sid}/marks").json()
        assert all(m["position_m"] is not None for m in marks[1:]), marks  # on the trajectory
        csv = c.get(f"/api/v1/scans/{sid}/products/marks.csv")
        assert csv.status_code == 200 and "CP 7" in csv.text
        assert csv.headers["content-type"].startswith("text/csv")
        # what scanner georef writes is downloadable as georef/NAME, and nothing beside it
        georef = scanner.daemon.store.get(sid) / "products" / "georef"
        georef.mkdir()
        (georef / "residuals.txt").write_text("CP 7 check 1.0 mm")
        assert "georef/residuals.txt" in c.get(f"/api/v1/scans/{sid}").json()["products"]
        r = c.get(f"/api/v1/scans/{sid}/products/georef/residuals.txt")
        assert r.status_code == 200 and r.text.startswith("CP 7")
        for bad in ("georef/..%2Fmap.ply", "georef/%2E%2E/%2E%2E/session.json", "georef/",
                    "georef%2F..%2F..%2Fsession.json", "submaps/graph.json"):  # fmt: skip
            assert c.get(f"/api/v1/scans/{sid}/products/{bad}").status_code == 404, bad


def test_georef_over_the_api(scanner, processed):
    """A processed scan with marks along its walk, tied over the API to their positions
    surveyed in a CRS (turned and moved)."""
    import shutil

    from drivers.sessions.marks import Mark, append_mark, mark_positions, write_marks_csv
    from drivers.sessions.trajectory import read_tum

    sid = "20260103-100000"
    path = scanner.daemon.store.root / sid
    shutil.copytree(processed, path)
    t, T = read_tum(path / "products" / "trajectory.tum")
    marks = [Mark(f"M{k:02d}", int(round(ts * 1e9))) for k, ts in
             enumerate(np.linspace(t[0] + 2.5, t[-1] - 0.5, 4), start=1)]  # fmt: skip
    for m in marks:
        append_mark(path, m)
    xyz = mark_positions(marks, t, T)  # [4, 3] what processing writes
    write_marks_csv(path / "products" / "marks.csv", marks, xyz)
    assert np.ptp(xyz[:, :2], axis=0).max() > 0.15  # apart along the (short) walk
    with scanner.client() as c:
        assert c.get(f"/api/v1/scans/{sid}/georef").status_code == 404  # none started yet
        yaw, origin = np.radians(30.0), np.array([500_000.0, 5_700_000.0, 100.0])
        R = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
        rows = ["name,easting,northing,height,epsg"]
        for m in c.get(f"/api/v1/scans/{sid}/marks").json():
            e, n, h = R @ np.array(m["position_m"]) + origin
            rows.append(f"{m['name']},{e:.4f},{n:.4f},{h:.4f},25832")
        body = {"control_csv": "\n".join(rows), "check": ["M03"], "level": True}
        assert c.post("/api/v1/scans/x/georef", json=body).status_code == 404
        bad = {**body, "control_csv": "name,easting,northing,height\nA,1,2,x\n"}
        assert c.post(f"/api/v1/scans/{sid}/georef", json=bad).status_code == 422
        r = c.post(f"/api/v1/scans/{sid}/georef", json=body)
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 120
        while (g := c.get(f"/api/v1/scans/{sid}/georef").json())["state"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert g["state"] == "done", g
        assert g["summary"]["rms_m"]["check"] < 0.002 and not g["summary"]["flagged"], g
        assert "georef/map.laz" in g["products"] and "georef/report.html" in g["products"]
        r = c.get(f"/api/v1/scans/{sid}/products/georef/residuals.txt")
        assert r.status_code == 200 and "M03" in r.text


def test_a_site_over_the_api(scanner, processed):
    """Two processed scans of one place, the second in a frame of its own, joined over the
    API; its map, E57 and trajectories downloadable, its COPC map paged."""
    formats = ["laz", "e57", "copc"]
    import json
    import shutil

    from slam.se3 import se3_inv

    root = scanner.daemon.store.root
    ids = ["20260102-100000", "20260102-110000"]
    for sid in ids:
        shutil.copytree(processed, root / sid)
    T_b_a = np.eye(4)  # where the second scan's world has the first's
    T_b_a[:3, :3] = [[np.cos(0.6), -np.sin(0.6), 0], [np.sin(0.6), np.cos(0.6), 0], [0, 0, 1]]
    T_b_a[:3, 3] = [3.0, -2.0, 0.4]
    rng = np.random.default_rng(0)  # another look at the place: its coarse points differ
    for f in (root / ids[1] / "submaps").glob("*.npz"):
        with np.load(f) as z:
            arrays = dict(z)
        coarse = arrays["coarse_m"][::2]
        arrays["coarse_m"] = (coarse + rng.normal(0, 0.005, coarse.shape)).astype(coarse.dtype)
        np.savez(f, **arrays)
    graph_path = root / ids[1] / "submaps" / "graph.json"
    doc = json.loads(graph_path.read_text())
    for key in ("T_world_anchor", "T_world_anchor_odometry"):
        doc[key] = (T_b_a @ np.array(doc[key]).reshape(-1, 4, 4)).tolist()
    graph_path.write_text(json.dumps(doc))
    with scanner.client() as c:
        assert c.post("/api/v1/sites", json={"name": "a/b", "scans": ids}).status_code == 422
        assert c.post("/api/v1/sites", json={"name": "s", "scans": ids[:1]}).status_code == 422
        bad = {"name": "s", "scans": [ids[0], "no-such-scan"]}
        r = c.post("/api/v1/sites", json=bad)
        assert r.status_code == 404 and r.json()["detail"] == "no such scan: no-such-scan"
        r = c.get("/api/v1/sites/yard")
        assert r.status_code == 404 and r.json()["detail"] == "no such site: yard"
        r = c.post("/api/v1/sites", json={"name": "yard", "scans": ids, "formats": formats})
        assert r.status_code == 202 and r.json()["state"] in ("running", "done"), r.text
        deadline = time.monotonic() + 120
        while (s := c.get("/api/v1/sites/yard").json())["state"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert s["state"] == "done", s
        assert [x["placed"] for x in s["summary"]["sessions"]] == [True, True]
        T = np.array(s["summary"]["sessions"][1]["T_site_session"])  # the second in the first's
        np.testing.assert_allclose(T[:3, 3], se3_inv(T_b_a)[:3, 3], atol=0.02)
        assert {"map.laz", "map.e57", "site.json", f"trajectories/{ids[1]}.tum"} <= set(
            s["products"]
        )
        assert "yard" in [x["name"] for x in c.get("/api/v1/sites").json()]  # others' sites too
        h = c.get("/api/v1/sites/yard/map/hierarchy").json()  # the site's map, paged
        r = c.get("/api/v1/sites/yard/map/nodes/0-0-0-0")
        assert h["points"] > 0 and len(r.content) == 16 * h["nodes"][0][4]
    with scanner.client(token=None) as anon:  # a browser's download link: ?token=
        r = anon.get(f"/api/v1/sites/yard/products/map.laz?token={TOKEN}")
        assert r.status_code == 200 and r.content[:4] == b"LASF"
        assert anon.get("/api/v1/sites/yard/products/map.laz").status_code == 401
        for bad in ("..%2F..%2Fsession.json", "trajectories/..%2Fsite.json", ".map", ""):
            r = anon.get(f"/api/v1/sites/yard/products/{bad}?token={TOKEN}")
            assert r.status_code == 404, bad


def test_the_map_pages_over_the_api(scanner, processed):
    """A processed scan's COPC map paged as the browser view asks for it: the octree, then
    each node's points (float32 positions from the cube's centre, then colour and intensity)."""
    import shutil

    from scipy.spatial import cKDTree

    from products.export import read_ply

    sid = "20260104-100000"
    path = scanner.daemon.store.root / sid
    shutil.copytree(processed, path)
    with scanner.client() as c:
        r = c.get(f"/api/v1/scans/{sid}/map/hierarchy")
        assert r.status_code == 404 and "copc" in r.json()["detail"]  # not made yet: says how
        assert c.get(f"/api/v1/scans/{sid}/map").json()["state"] == "none"
        r = c.post(f"/api/v1/scans/{sid}/map")  # made from the scan's map, in the background
        assert r.status_code == 202 and r.json()["state"] in ("running", "done"), r.text
        deadline = time.monotonic() + 60
        while (job := c.get(f"/api/v1/scans/{sid}/map").json())["state"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert job == {"state": "done", "error": None}
        assert "map.copc.laz" in c.get(f"/api/v1/scans/{sid}").json()["products"]
        assert c.post("/api/v1/scans/no-such-scan/map").status_code == 404
        h = c.get(f"/api/v1/scans/{sid}/map/hierarchy").json()
        cloud = read_ply(path / "products" / "map.ply")
        assert h["points"] == len(cloud) == sum(n[4] for n in h["nodes"])
        assert h["rgb"] and h["nodes"][0][:4] == [0, 0, 0, 0]
        xyz, rgb = [], []
        for d, x, y, z, count in h["nodes"]:
            r = c.get(f"/api/v1/scans/{sid}/map/nodes/{d}-{x}-{y}-{z}")
            assert r.status_code == 200 and len(r.content) == 16 * count
            xyz.append(np.frombuffer(r.content[: 12 * count], np.float32).reshape(count, 3))
            rgb.append(np.frombuffer(r.content[12 * count :], np.uint8).reshape(count, 4)[:, :3])
        xyz = np.concatenate(xyz) + h["center_m"]
        dist, i = cKDTree(cloud.xyz_m).query(xyz)  # each paged point is one of the map's
        assert dist.max() < 1e-3 and len(np.unique(i)) > 0.999 * len(cloud)  # (mm twins)
        assert (np.concatenate(rgb) == cloud.rgb[i]).all(axis=1).mean() > 0.999
        assert c.get(f"/api/v1/scans/{sid}/map/nodes/20-0-0-0").status_code == 404
        assert c.get(f"/api/v1/scans/{sid}/map/nodes/0-0-0").status_code == 422
        assert c.get(f"/api/v1/scans/{sid}/map/nodes/..-0-0-0").status_code == 422
        assert c.get("/api/v1/scans/no-such-scan/map/hierarchy").status_code == 404
        assert c.get("/api/v1/sites/no-such-site/map/hierarchy").status_code == 404
        assert c.get(f"/api/v1/other/{sid}/map/hierarchy").status_code == 422  # scans, sites
    with scanner.client(token=None) as anon:  # ?token= as for downloads
        r = anon.get(f"/api/v1/scans/{sid}/map/nodes/0-0-0-0?token={TOKEN}")
        assert r.status_code == 200
    copc = path / "products" / "map.copc.laz"
    copc.write_bytes(copc.read_bytes()[:2000])  # damaged: a clear error, the scanner goes on
    with scanner.client() as c:
        r = c.get(f"/api/v1/scans/{sid}/map/hierarchy")
        assert r.status_code == 409 and "make it again" in r.json()["detail"], r.text
        assert c.get("/api/v1/health").status_code == 200
