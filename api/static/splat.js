// The splat of one scan (/static/splat.html?scan=ID), shown with GaussianSplats3D (vendored).
// It fetches the scan's scene.splat product with the token the main page keeps.
import * as GS from '/static/vendor/gaussian-splats-3d/gaussian-splats-3d.module.js';

const TOKEN_KEY = 'scanner.token';
const params = new URLSearchParams(location.search);
const scan = params.get('scan') || '';
const token = new URLSearchParams(location.hash.slice(1)).get('token') || localStorage.getItem(TOKEN_KEY) || '';
const status = document.getElementById('splat-status');
const view = document.getElementById('splat-view');

function fail(message) {
  const el = document.getElementById('splat-error');
  el.textContent = message;
  el.hidden = false;
  status.textContent = '';
  document.body.dataset.state = 'error';
}

async function main() {
  if (!scan) return fail('No scan given (splat.html?scan=ID).');
  const url = `/api/v1/scans/${encodeURIComponent(scan)}/products/scene.splat?token=${encodeURIComponent(token)}`;
  // the viewer does not report HTTP errors well: ask first, so a 401 or 404 reads plainly
  const head = await fetch(url, { headers: { Range: 'bytes=0-0' } });
  if (head.status === 401) return fail('The token was refused: open the scanner page with its token first.');
  if (!head.ok) return fail(`This scan has no splat yet (${head.status}).`);
  const viewer = new GS.Viewer({
    rootElement: view,
    cameraUp: [0, 0, 1], // the scanner's world is z-up
    initialCameraPosition: [-0.5, 0, 0.3], // near where the scan began (the world's origin)
    initialCameraLookAt: [2, 0, 0], // along the lidar's forward axis
    sharedMemoryForWorkers: false, // no cross-origin isolation on a plain LAN page
    gpuAcceleratedSort: false,
    useBuiltInControls: true,
  });
  await viewer.addSplatScene(url, { format: GS.SceneFormat.Splat, showLoadingUI: false, progressiveLoad: false });
  viewer.start();
  const n = viewer.getSplatMesh().getSplatCount();
  status.textContent = `${scan}: ${n.toLocaleString()} Gaussians`;
  view.dataset.splats = String(n);
  document.body.dataset.state = 'shown';
}

main().catch((e) => fail(`Could not show the splat: ${e.message || e}`));
