"""The web UI in a real headless browser (Debian's chromium, driven by Playwright): open it,
start a scan, watch the map grow, stop, and download the map."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.api.conftest import TOKEN

CHROMIUM = shutil.which("chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",  # software WebGL for the 3D view
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make setup installs it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.mark.parametrize(
    "viewport", [{"width": 390, "height": 844}, {"width": 1280, "height": 800}]
)
def test_a_scan_from_the_browser(scanner, browser, tmp_path, viewport):
    page = browser.new_page(viewport=viewport, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{scanner.url}/#token={TOKEN}")
    state = page.locator("#state")
    state.wait_for()
    page.wait_for_function(
        "document.querySelector('#state').textContent.trim() === 'idle'", timeout=30_000
    )
    assert "token" not in page.url  # the token leaves the address bar
    page.wait_for_selector("#sensors tr[data-sensor=lidar]")

    page.click("#scan-button")
    page.wait_for_function(
        "document.querySelector('#state').textContent.trim() === 'scanning'", timeout=10_000
    )
    points = page.locator("#map-points")
    page.wait_for_function(
        "Number(document.querySelector('#map-points').dataset.count) > 0", timeout=15_000
    )
    first = int(points.get_attribute("data-count"))
    page.wait_for_function(
        f"Number(document.querySelector('#map-points').dataset.count) > {first}", timeout=15_000
    )
    page.wait_for_timeout(1500)  # the filter needs a second of IMU before processing can map
    page.fill("#mark-name", "GCP 1")  # a control point, marked from the browser
    page.click("#mark-button")
    page.wait_for_function(
        "document.querySelector('#mark-message').textContent.startsWith('Marked GCP 1')",
        timeout=10_000,
    )

    page.click("#scan-button")  # stop
    page.wait_for_function(
        "document.querySelector('#state').textContent.trim() === 'idle'", timeout=90_000
    )
    link = page.locator("#scans li").first.locator("a.product-link[data-product='map.ply']")
    link.wait_for(timeout=15_000)
    with page.expect_download() as dl:
        link.click()
    path = tmp_path / "map.ply"
    dl.value.save_as(path)
    assert path.read_bytes().startswith(b"ply\n") and path.stat().st_size > 1000
    page.screenshot(path=str(tmp_path / "ui.png"))
    if os.environ.get("SCANNER_UI_SHOTS"):  # for a person to look at
        shutil.copy(
            tmp_path / "ui.png",
            Path(os.environ["SCANNER_UI_SHOTS"]) / f"ui-{viewport['width']}.png",
        )
    assert not errors, errors
    page.close()


def test_a_wrong_token_shows_the_token_form(scanner, browser):
    page = browser.new_page()
    page.goto(f"{scanner.url}/#token=wrong")
    page.wait_for_selector("#token-form", state="visible", timeout=10_000)
    assert "token" in page.locator("#token-message").inner_text().lower()
    page.close()


def _done_scan(scanner) -> str:
    """A processed scan: the newest one, or a short new one if there is none."""
    import time

    with scanner.client() as c:
        done = [s["id"] for s in c.get("/api/v1/scans").json() if s["state"] == "done"]
        if done:
            return done[0]
        sid = c.post("/api/v1/scans").json()["id"]
        time.sleep(4)
        c.post(f"/api/v1/scans/{sid}/stop")
        scanner.wait_state(c, {"idle", "error"}, timeout_s=90)
        return sid


def test_the_splat_viewer_renders_a_scans_splat(scanner, browser, tmp_path):
    """A scan's scene.splat in the vendored GaussianSplats3D viewer: loaded, and drawn."""
    import cv2
    import numpy as np

    from products.export import read_ply
    from slam.preprocess import voxel_downsample
    from splat.export import write_splat
    from splat.gaussians import init_from_map

    sid = _done_scan(scanner)
    products = scanner.daemon.store.root / sid / "products"
    cloud = read_ply(products / "map.ply")
    keep = voxel_downsample(cloud.xyz_m, 0.05)
    write_splat(products / "scene.splat", init_from_map(cloud.xyz_m[keep], cloud.rgb[keep], 0))

    page = browser.new_page(viewport={"width": 800, "height": 600})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{scanner.url}/#token={TOKEN}")  # the main page keeps the token
    page.wait_for_selector(f"#scans li[data-scan-id='{sid}'] a.splat-link", timeout=15_000)
    page.goto(f"{scanner.url}/static/splat.html?scan={sid}")
    page.wait_for_function("document.body.dataset.state === 'shown'", timeout=60_000)
    assert int(page.locator("#splat-view").get_attribute("data-splats")) == len(keep)
    page.wait_for_timeout(2000)  # the sort worker's first pass, then a frame
    box = page.locator("#splat-view").bounding_box()  # the viewer animates: no wait for stable
    png = page.screenshot(path=str(tmp_path / "splat.png"), clip=box, timeout=60_000)
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    lit = (img.max(axis=2) > 30).mean()
    assert lit > 0.05, f"only {lit:.1%} of the view is drawn"
    if os.environ.get("SCANNER_UI_SHOTS"):
        shutil.copy(tmp_path / "splat.png", Path(os.environ["SCANNER_UI_SHOTS"]) / "splat.png")
    assert not errors, errors
    page.close()


def test_the_map_view_pages_a_scans_copc(scanner, browser, tmp_path):
    """The scan list's "view map" opens the paged view: the paged map made first (the scan was
    processed without it), then the octree's nodes fetched within the point budget, and drawn."""
    import json

    import cv2
    import numpy as np

    sid = _done_scan(scanner)
    products = scanner.daemon.store.get(sid) / "products"
    (products / "map.copc.laz").unlink(missing_ok=True)

    page = browser.new_page(viewport={"width": 800, "height": 600})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{scanner.url}/#token={TOKEN}")
    link = page.locator(f"#scans li[data-scan-id='{sid}'] a.map-link")
    link.wait_for(timeout=15_000)
    page.goto(f"{scanner.url}{link.get_attribute('href')}&budget=1000000")
    page.wait_for_function("document.body.dataset.state === 'shown'", timeout=60_000)
    total = scanner.client().get(f"/api/v1/scans/{sid}/map/hierarchy").json()["points"]
    page.wait_for_function("Number(document.body.dataset.pathPoses) > 10", timeout=10_000)
    shown = int(page.evaluate("document.body.dataset.shown"))
    assert 0 < shown <= min(total, 1_000_000)
    view = page.locator("#map-view").bounding_box()
    png = page.screenshot(path=str(tmp_path / "map.png"), clip=view)
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    lit = (img.max(axis=2) > 40).mean()
    assert lit > 0.05, f"only {lit:.1%} of the view is drawn"
    if os.environ.get("SCANNER_UI_SHOTS"):
        shutil.copy(tmp_path / "map.png", Path(os.environ["SCANNER_UI_SHOTS"]) / "map.png")

    # a site's map: listed under Sites, paged the same way
    site = scanner.daemon.store.root / "sites" / "lab"
    site.mkdir(parents=True)
    (site / "site.json").write_text(json.dumps({"sessions": [{"name": sid, "placed": True}]}))
    shutil.copy(products / "map.copc.laz", site / "map.copc.laz")
    page.goto(f"{scanner.url}/")
    link = page.locator("#sites li[data-site='lab'] a.map-link")
    link.wait_for(timeout=15_000)
    assert page.locator("#sites li[data-site='lab'] a[data-product='map.copc.laz']").count() == 1
    page.goto(f"{scanner.url}{link.get_attribute('href')}&budget=1000000")
    page.wait_for_function("document.body.dataset.state === 'shown'", timeout=60_000)
    assert int(page.evaluate("document.body.dataset.shown")) == shown  # the same map and view
    assert not errors, errors
    page.close()


def test_georeference_and_a_site_from_the_browser(scanner, browser, processed, tmp_path):
    """A processed scan with marks tied to surveyed control points from its row's form (the
    residual table and the georef products shown), then two scans ticked into a new site."""
    import json
    import time

    import numpy as np

    from drivers.sessions.marks import Mark, append_mark, mark_positions, write_marks_csv
    from drivers.sessions.trajectory import read_tum

    root = scanner.daemon.store.root
    ids = ["20260105-100000", "20260105-110000"]
    for sid in ids:  # two scans of their own (the list names each by its folder)
        shutil.copytree(processed, root / sid)
    t, T = read_tum(root / ids[0] / "products" / "trajectory.tum")
    marks = [Mark(f"M{k}", int(round(ts * 1e9))) for k, ts in
             enumerate(np.linspace(t[0] + 2.5, t[-1] - 0.5, 4), start=1)]  # fmt: skip
    for m in marks:
        append_mark(root / ids[0], m)
    xyz = mark_positions(marks, t, T)  # [4, 3]
    write_marks_csv(root / ids[0] / "products" / "marks.csv", marks, xyz)
    rows = ["name,easting,northing,height,epsg"]  # surveyed: the marks moved into UTM
    rows += [f"{m.name},{500_000 + x:.4f},{5_700_000 + y:.4f},{100 + z:.4f},25832"
             for m, (x, y, z) in zip(marks, xyz, strict=True)]  # fmt: skip
    control = tmp_path / "control.csv"
    control.write_text("\n".join(rows))
    graph_path = root / ids[1] / "submaps" / "graph.json"  # the second scan in its own frame
    doc = json.loads(graph_path.read_text())
    for key in ("T_world_anchor", "T_world_anchor_odometry"):
        poses = np.array(doc[key]).reshape(-1, 4, 4)
        poses[:, :3, 3] += [2.0, -1.0, 0.2]
        doc[key] = poses.tolist()
    graph_path.write_text(json.dumps(doc))

    with scanner.client() as c:
        scan = c.get(f"/api/v1/scans/{ids[0]}").json()
    assert scan["state"] == "done" and "marks.csv" in scan["products"], scan

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{scanner.url}/#token={TOKEN}")
    row = page.locator(f"#scans li[data-scan-id='{ids[0]}']")
    row.locator("details.georef summary").click(timeout=15_000)
    row.locator("input[name=control]").set_input_files(str(control))
    row.locator("input[name=check]").fill("M3")
    row.locator("input[name=level]").check()
    row.locator("input[name=tolerance]").fill("20")  # mm
    row.locator("form.georef-form button[type=submit]").click()
    shown = f"#scans li[data-scan-id='{ids[0]}'] .georef-result"  # the row is drawn again
    rms = page.locator(f"{shown} tr[data-role=check] td.rms")
    rms.wait_for(timeout=120_000)
    assert float(rms.inner_text().removesuffix(" mm")) < 2.0  # the marks are the control
    assert page.locator(f"{shown} a[data-product='georef/map.laz']").count() == 1
    with scanner.client() as c:
        job = c.get(f"/api/v1/scans/{ids[0]}/georef").json()
        assert job["state"] == "done" and job["summary"]["tolerance_m"] == 0.02, job
        assert job["summary"]["scale"] == 1.0  # not ticked: rigid
    if os.environ.get("SCANNER_UI_SHOTS"):
        row.screenshot(path=str(Path(os.environ["SCANNER_UI_SHOTS"]) / "georef.png"))

    assert page.locator("#site-make").is_disabled()
    for sid in (ids[1], ids[0]):  # the first ticked holds the frame
        page.locator(f"#scans li[data-scan-id='{sid}'] input.site-tick").check()
    assert page.locator("#site-scans").inner_text().startswith(f"{ids[1]} + {ids[0]}")
    page.locator("#site-name").fill("yard-ui")
    page.locator("#site-form input[value=copc]").uncheck()  # the formats: laz, e57 and ply
    page.locator("#site-form input[value=ply]").check()
    page.locator("#site-make").click()
    site = page.locator("#sites li[data-site='yard-ui']")
    site.wait_for(timeout=15_000)
    deadline = time.monotonic() + 120
    with scanner.client() as c:
        while (s := c.get("/api/v1/sites/yard-ui").json())["state"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.5)
    assert s["state"] == "done", s
    assert [x["name"] for x in s["summary"]["sessions"]] == [ids[1], ids[0]]
    assert {"map.laz", "map.e57", "map.ply"} <= set(s["products"]), s["products"]
    assert not any("copc" in name for name in s["products"]), s["products"]
    site.locator("a[data-product='map.laz']").wait_for(timeout=15_000)
    assert not page.locator("#scans input.site-tick:checked").count()  # the ticks are cleared
    assert not errors, errors
    page.close()
