// A scan's or a site's map paged from its COPC octree (/static/map.html?scan=ID or ?site=NAME):
// the hierarchy first, then the nodes the camera needs (map_lod.js), fetched a few at a time;
// nodes out of view stay cached up to twice the point budget, then the least recent are freed.
import * as THREE from 'three';
import { OrbitControls } from '/static/vendor/three/OrbitControls.js';
import { indexHierarchy, nodeCube, selectNodes } from '/static/map_lod.js';

const TOKEN_KEY = 'scanner.token';
const FETCHES = 4; // node requests in flight at once
const DRAW_MS = 500; // between draws while nodes arrive
const params = new URLSearchParams(location.search);
const kind = params.has('site') ? 'sites' : 'scans';
const name = params.get('site') || params.get('scan') || '';
const token = new URLSearchParams(location.hash.slice(1)).get('token') || localStorage.getItem(TOKEN_KEY) || '';
const base = `/api/v1/${kind}/${encodeURIComponent(name)}/map`;
const $ = (id) => document.getElementById(id);

const VERTEX_SHADER = `
attribute vec4 rgbi;
uniform int uMode;
uniform float uZMin;
uniform float uZMax;
uniform float uSpacing;
uniform float uPixelsPerRadian;
varying vec3 vColor;
vec3 jet(float t) {
  return clamp(vec3(1.5 - abs(4.0 * t - 3.0), 1.5 - abs(4.0 * t - 2.0), 1.5 - abs(4.0 * t - 1.0)), 0.0, 1.0);
}
void main() {
  if (uMode == 0) vColor = rgbi.rgb;
  else if (uMode == 1) vColor = jet(clamp((position.z - uZMin) / max(uZMax - uZMin, 0.01), 0.0, 1.0));
  else vColor = vec3(rgbi.a);
  vec4 mv = modelViewMatrix * vec4(position, 1.0);
  gl_Position = projectionMatrix * mv;
  gl_PointSize = clamp(uSpacing * uPixelsPerRadian / max(-mv.z, 0.01), 1.5, 6.0);
}`;
const FRAGMENT_SHADER = `
varying vec3 vColor;
void main() { gl_FragColor = vec4(vColor, 1.0); }`;

function fail(message) {
  const el = $('map-error');
  el.textContent = message;
  el.hidden = false;
  $('map-status').textContent = '';
  document.body.dataset.state = 'error';
}

async function request(url, method = 'GET') {
  const response = await fetch(url, { method, headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (response.status === 401) throw new Error('the token was refused: open the scanner page with its token first');
  return response;
}

async function ok(response) { // the response, or its error's detail thrown
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.detail || `HTTP ${response.status}`);
  }
  return response;
}

const get = async (path) => ok(await request(`${base}/${path}`));

// A scan processed without its paged map: have the scanner make it from the map, and wait.
async function makePagedMap() {
  const url = `/api/v1/scans/${encodeURIComponent(name)}/map`;
  let job = await (await ok(await request(url))).json(); // 404: no such scan
  if (job.state === 'none' || job.state === 'failed') job = await (await ok(await request(url, 'POST'))).json();
  $('map-status').textContent = 'making the paged map from the scan\'s map (about 30 s per 10 M points)…';
  document.body.dataset.state = 'making';
  while (job.state === 'running') {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    job = await (await request(url)).json();
  }
  if (job.state !== 'done') throw new Error(job.error || 'the paged map could not be made');
}

class PagedMap {
  constructor(container, hierarchy) {
    this.index = indexHierarchy(hierarchy);
    this.total = hierarchy.points;
    if (params.has('budget')) $('map-budget').value = params.get('budget');
    this.budget = Number($('map-budget').value) || 3e6;
    this.loaded = new Map(); // key -> {points: THREE.Points, used: frame}
    this.loading = new Set();
    this.wanted = [];
    this.frame = 0;
    this.dirty = true;

    this.renderer = new THREE.WebGLRenderer({ antialias: false, powerPreference: 'high-performance' });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    this.renderer.setClearColor(0x0b0e13);
    container.appendChild(this.renderer.domElement);
    this.scene = new THREE.Scene();
    const h = this.index.halfsize;
    this.camera = new THREE.PerspectiveCamera(60, 1, Math.max(h * 1e-4, 0.05), h * 20);
    this.camera.up.set(0, 0, 1);
    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.screenSpacePanning = true;
    this.controls.addEventListener('change', () => { this.dirty = true; });
    this.camera.position.set(-0.6 * h, -1.0 * h, 0.9 * h);
    this.controls.target.set(0, 0, -0.5 * h);
    this.controls.update();

    const uZ = hierarchy.halfsize_m;
    this.uniforms = {
      uMode: { value: hierarchy.rgb ? 0 : 1 },
      uZMin: { value: -uZ * 0.05 },
      uZMax: { value: uZ * 0.05 },
      uPixelsPerRadian: { value: 1 },
    };
    $('map-colour').value = String(this.uniforms.uMode.value);
    $('map-colour').addEventListener('change', (ev) => { this.uniforms.uMode.value = Number(ev.target.value); this.dirty = true; });
    $('map-budget').addEventListener('change', (ev) => { this.budget = Number(ev.target.value); this.dirty = true; });
    this.materials = []; // one a depth: its points' spacing sizes them
    new ResizeObserver(() => this.resize()).observe(container);
    this.resize();
    this.nextDraw = 0;
    this.renderer.setAnimationLoop((now) => this.render(now));
  }

  resize() {
    const { clientWidth: w, clientHeight: h } = this.renderer.domElement.parentElement;
    if (!w || !h) return;
    this.renderer.setSize(w, h, false);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
    this.dirty = true;
  }

  material(depth) {
    if (!this.materials[depth]) {
      this.materials[depth] = new THREE.ShaderMaterial({
        uniforms: { ...this.uniforms, uSpacing: { value: this.index.spacing / 2 ** depth } },
        vertexShader: VERTEX_SHADER,
        fragmentShader: FRAGMENT_SHADER,
      });
    }
    return this.materials[depth];
  }

  view() {
    const frustum = new THREE.Frustum().setFromProjectionMatrix(
      new THREE.Matrix4().multiplyMatrices(this.camera.projectionMatrix, this.camera.matrixWorldInverse));
    const height = this.renderer.domElement.height;
    const pixelsPerRadian = height / (2 * Math.tan(THREE.MathUtils.degToRad(this.camera.fov) / 2));
    this.uniforms.uPixelsPerRadian.value = pixelsPerRadian;
    return {
      eye: this.camera.position.toArray(),
      planes: frustum.planes.map((p) => [p.normal.x, p.normal.y, p.normal.z, p.constant]),
      pixelsPerRadian,
    };
  }

  // What to show: the chosen nodes that are here; what to fetch next: those that are not.
  update() {
    this.frame += 1;
    this.wanted = selectNodes(this.index, this.view(), this.budget);
    const chosen = new Set(this.wanted.map((n) => n.key));
    let shown = 0;
    for (const [key, entry] of this.loaded) {
      entry.points.visible = chosen.has(key);
      if (entry.points.visible) {
        entry.used = this.frame;
        shown += entry.count;
      }
    }
    this.shown = shown;
    this.fetchMore();
    this.evict();
  }

  fetchMore() {
    for (const node of this.wanted) {
      if (this.loading.size >= FETCHES) break;
      if (this.loaded.has(node.key) || this.loading.has(node.key)) continue;
      this.loading.add(node.key);
      this.fetchNode(node)
        .catch((e) => fail(`Could not load the map: ${e.message || e}`))
        .finally(() => { this.loading.delete(node.key); this.dirty = true; this.fetchMore(); });
    }
  }

  async fetchNode(node) {
    const body = await (await get(`nodes/${node.key}`)).arrayBuffer();
    const n = body.byteLength / 16;
    const geometry = new THREE.BufferGeometry();
    geometry.setAttribute('position', new THREE.BufferAttribute(new Float32Array(body, 0, n * 3), 3));
    geometry.setAttribute('rgbi', new THREE.BufferAttribute(new Uint8Array(body, n * 12, n * 4), 4, true));
    const { centre, half } = nodeCube(this.index, node);
    geometry.boundingSphere = new THREE.Sphere(new THREE.Vector3(...centre), half * Math.sqrt(3));
    const points = new THREE.Points(geometry, this.material(node.d));
    points.visible = false; // until the next update chooses it
    this.scene.add(points);
    this.loaded.set(node.key, { points, count: n, used: this.frame });
    if (node.d === 0) this.fitHeights(geometry);
  }

  // Height colours span the overview's 2nd to 98th percentile of height.
  fitHeights(geometry) {
    const xyz = geometry.getAttribute('position').array;
    const z = Float32Array.from({ length: xyz.length / 3 }, (_, i) => xyz[3 * i + 2]).sort();
    if (z.length < 2) return;
    this.uniforms.uZMin.value = z[Math.floor(z.length * 0.02)];
    this.uniforms.uZMax.value = z[Math.floor(z.length * 0.98)];
  }

  evict() {
    let cached = 0;
    for (const entry of this.loaded.values()) cached += entry.count;
    if (cached <= 2 * this.budget) return;
    const stale = [...this.loaded.entries()].filter(([, e]) => !e.points.visible).sort((a, b) => a[1].used - b[1].used);
    for (const [key, entry] of stale) {
      if (cached <= 2 * this.budget) break;
      this.scene.remove(entry.points);
      entry.points.geometry.dispose();
      this.loaded.delete(key);
      cached -= entry.count;
    }
  }

  // The walks (xyz in the map's frame, [3 N] each) as white lines over the points.
  showPaths(paths, centre) {
    const lines = new THREE.Group();
    let poses = 0;
    for (const xyz of paths) {
      const local = Float32Array.from(xyz, (v, i) => v - centre[i % 3]);
      const line = new THREE.Line(new THREE.BufferGeometry().setAttribute('position', new THREE.BufferAttribute(local, 3)),
        new THREE.LineBasicMaterial({ color: 0xffffff, depthTest: false }));
      line.renderOrder = 1;
      lines.add(line);
      poses += local.length / 3;
    }
    this.scene.add(lines);
    document.body.dataset.pathPoses = String(poses);
    $('map-path').addEventListener('change', (ev) => { lines.visible = ev.target.checked; this.dirty = true; });
    this.dirty = true;
  }

  // Only when the view or what is loaded changed (an idle map costs nothing), and while nodes
  // stream in at most every DRAW_MS, so that drawing millions of points never starves the fetches.
  render(now) {
    if (this.dirty) {
      this.dirty = false;
      this.update();
      this.stale = true;
    }
    if (!this.stale || (this.loading.size && now < this.nextDraw)) return;
    this.stale = false;
    const start = performance.now();
    this.renderer.render(this.scene, this.camera);
    this.nextDraw = now + Math.max(DRAW_MS, 4 * (performance.now() - start)); // slow GPU: draw less
    const status = `${this.shown.toLocaleString()} of ${this.total.toLocaleString()} points`
      + ` · ${this.loaded.size} nodes` + (this.loading.size ? ` · loading ${this.loading.size}` : '');
    $('map-status').textContent = status;
    Object.assign(document.body.dataset, { state: this.loading.size ? 'loading' : 'shown', shown: String(this.shown), nodes: String(this.loaded.size) });
  }
}

// The walk(s) as lines: a scan's trajectory.tum, or each session's of a site. -> [Float32Array]
async function trajectories() {
  let files = ['trajectory.tum'];
  if (kind === 'sites') {
    const site = await (await request(`/api/v1/sites/${encodeURIComponent(name)}`)).json();
    files = (site.products || []).filter((f) => f.startsWith('trajectories/'));
  }
  const paths = [];
  for (const file of files) {
    const url = `/api/v1/${kind}/${encodeURIComponent(name)}/products/${file.split('/').map(encodeURIComponent).join('/')}`;
    const response = await request(url);
    if (!response.ok) continue; // no trajectory: the map alone
    const rows = (await response.text()).split('\n').filter((l) => l && !l.startsWith('#'));
    paths.push(Float64Array.from(rows.flatMap((l) => l.trim().split(/\s+/).slice(1, 4).map(Number))));
  }
  return paths;
}

async function main() {
  if (!name) return fail('No map given (map.html?scan=ID or ?site=NAME).');
  $('map-name').textContent = name;
  if (kind === 'scans' && (await request(`${base}/hierarchy`)).status === 404) await makePagedMap();
  const hierarchy = await (await get('hierarchy')).json();
  if (!hierarchy.nodes.length) return fail('This map has no points.');
  window.pagedMap = new PagedMap($('map-view'), hierarchy);
  const paths = await trajectories().catch(() => []);
  window.pagedMap.showPaths(paths, hierarchy.center_m);
}

main().catch((e) => fail(`Could not show the map: ${e.message || e}`));
