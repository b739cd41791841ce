"""The paged map view's choice of octree nodes (api/static/map_lod.js), run in node."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

LOD_JS = Path(__file__).resolve().parents[2] / "api" / "static" / "map_lod.js"

# A flat yard, 128 m a side, every node to depth 4 holding 1000 points; the eye 2 m above it,
# 34 m from its west edge, looking east with a 90 degree field of view.
SCRIPT = """
import { indexHierarchy, nodeCube, selectNodes } from './map_lod.mjs';
const nodes = [];
for (let d = 0; d <= 4; d++) {
  const n = 2 ** d;
  for (let x = 0; x < n; x++) {
    for (let y = 0; y < n; y++) nodes.push([d, x, y, Math.floor(n / 2), 1000]);
  }
}
const index = indexHierarchy({ nodes, halfsize_m: 64, spacing_m: 1 });
const eye = [-30, 0, 2];
const planes = [[1, 0, 0, 30], [1, -1, 0, 30], [1, 1, 0, 30], [1, 0, -1, 30], [1, 0, 1, 30]];
const out = {};
for (const budget of [1e9, 20000, 3000]) {
  out[budget] = selectNodes(index, { eye, planes, pixelsPerRadian: 400 }, budget)
    .map((n) => ({ key: n.key, d: n.d, points: n.points, ...nodeCube(index, n) }));
}
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def chosen(tmp_path_factory) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (make setup installs it)")
    folder = tmp_path_factory.mktemp("lod")
    shutil.copy(LOD_JS, folder / "map_lod.mjs")  # .mjs: an ES module without a package.json
    (folder / "test.mjs").write_text(SCRIPT)
    run = subprocess.run(
        [node, "test.mjs"], cwd=folder, capture_output=True, text=True, timeout=30, check=True
    )
    return {int(float(k)): v for k, v in json.loads(run.stdout).items()}


def test_the_root_comes_first_and_nodes_nearer_the_eye_go_deeper(chosen):
    nodes = chosen[10**9]
    assert nodes[0]["key"] == "0-0-0-0"
    near = [n["d"] for n in nodes if n["centre"][0] < 0]
    far = [n["d"] for n in nodes if n["centre"][0] > 32]
    assert max(near) == 4 and max(far) < 4  # the far side's points are dense enough already
    under_eye = [
        n for n in nodes if all(abs(n["centre"][i] - (-30, 0)[i]) <= n["half"] for i in (0, 1))
    ]
    assert max(n["d"] for n in under_eye) == 4  # where the eye stands: the finest


def test_nodes_behind_the_eye_are_not_fetched(chosen):
    for n in chosen[10**9]:
        assert n["centre"][0] + n["half"] * 3**0.5 >= -30, n


def test_the_point_budget_holds(chosen):
    for budget in (20000, 3000):
        nodes = chosen[budget]
        assert sum(n["points"] for n in nodes) <= budget
        assert nodes[0]["key"] == "0-0-0-0"
    assert len(chosen[20000]) == 20 and len(chosen[3000]) == 3
    biggest = chosen[10**9]
    assert len(biggest) > 20  # the unbounded view wants more than the budget allows
