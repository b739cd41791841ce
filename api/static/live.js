// The live 3D view (map points, trajectory, current pose) and the WebSocket that feeds it.
// World frame, metres, z up.
import * as THREE from 'three';
import { OrbitControls } from '/static/vendor/three/OrbitControls.js';

const FIRST_CAPACITY = 1 << 16; // points; grows by doubling (then by 1 M) as the map grows
const VIEW_DIRECTION = new THREE.Vector3(-0.45, -1, 0.9).normalize(); // camera from the target

// Points are coloured by height on the GPU, so a changing height range costs nothing.
const VERTEX_SHADER = `
uniform float uZMin;
uniform float uZMax;
uniform float uSize;
varying vec3 vColor;
vec3 jet(float t) {
  return clamp(vec3(1.5 - abs(4.0 * t - 3.0), 1.5 - abs(4.0 * t - 2.0), 1.5 - abs(4.0 * t - 1.0)), 0.0, 1.0);
}
void main() {
  vColor = jet(clamp((position.z - uZMin) / max(uZMax - uZMin, 0.01), 0.0, 1.0));
  gl_Position = projectionMatrix * modelViewMatrix * vec4(position, 1.0);
  gl_PointSize = uSize;
}`;
const FRAGMENT_SHADER = `
varying vec3 vColor;
void main() { gl_FragColor = vec4(vColor, 1.0); }`;

// 1, 2, 5, 10, 20, ... times a power of ten: the smallest such number >= x.
function niceStep(x) {
  const p = 10 ** Math.floor(Math.log10(Math.max(x, 1e-3)));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= x);
}

// An xyz buffer behind a Points or Line object: appends in place, uploads only what is new.
class GrowingBuffer {
  constructor(object) {
    this.object = object;
    this.count = 0;
    this.allocate(FIRST_CAPACITY);
  }

  // A buffer can't grow in place on the GPU: copy into a new geometry, free the old one.
  allocate(capacity) {
    const array = new Float32Array(capacity * 3);
    if (this.array) array.set(this.array.subarray(0, this.count * 3));
    const attribute = new THREE.BufferAttribute(array, 3).setUsage(THREE.DynamicDrawUsage);
    const geometry = new THREE.BufferGeometry().setAttribute('position', attribute);
    geometry.setDrawRange(0, this.count);
    this.object.geometry.dispose();
    this.object.geometry = geometry;
    Object.assign(this, { array, attribute, capacity, uploaded: this.count });
  }

  append(xyz) { // Float32Array of n*3
    const n = xyz.length / 3;
    if (this.count + n > this.capacity) {
      let capacity = this.capacity;
      while (capacity < this.count + n) capacity += Math.min(capacity, 1 << 20);
      this.allocate(capacity);
    }
    this.array.set(xyz, this.count * 3);
    this.count += n;
  }

  clear() {
    this.count = 0;
    this.uploaded = 0;
  }

  // Call once per frame, just before rendering (three.js clears the ranges after uploading).
  flush() {
    if (this.uploaded < this.count) {
      this.attribute.addUpdateRange(this.uploaded * 3, (this.count - this.uploaded) * 3);
      this.attribute.needsUpdate = true;
      this.uploaded = this.count;
    }
    this.object.geometry.setDrawRange(0, this.count);
  }
}

export class LiveView {
  constructor(container, { onCount = () => {}, onUserMoved = () => {} } = {}) {
    this.container = container;
    this.onCount = onCount;
    this.onUserMoved = onUserMoved;
    this.box = new THREE.Box3(); // of the map points
    this.userMoved = false;
    this.dirty = true;
    this.pointCount = 0; // counted even without WebGL
    try {
      this.renderer = new THREE.WebGLRenderer({ antialias: false, powerPreference: 'high-performance' });
    } catch (err) {
      container.textContent = 'The 3D view needs WebGL, which this browser does not offer.';
      container.classList.add('no-webgl');
      return;
    }
    this.buildScene();
    new ResizeObserver(() => this.resize()).observe(container);
    this.resize();
    this.lastFrame = performance.now();
    this.renderer.setAnimationLoop((now) => this.frame(now));
  }

  buildScene() {
    const r = this.renderer;
    r.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    r.setClearColor(0x0b0e13);
    this.container.appendChild(r.domElement);

    this.scene = new THREE.Scene();
    this.camera = new THREE.PerspectiveCamera(60, 1, 0.1, 20000);
    this.camera.up.set(0, 0, 1);
    this.camera.position.copy(VIEW_DIRECTION).multiplyScalar(15);

    this.controls = new OrbitControls(this.camera, r.domElement);
    this.controls.enableDamping = true;
    this.controls.screenSpacePanning = true;
    this.controls.addEventListener('start', () => { // only the user's gestures fire 'start'
      this.userMoved = true;
      this.onUserMoved(true);
    });
    this.controls.addEventListener('change', () => { this.dirty = true; });

    this.grid = null; // made by fitGrid()
    this.gridKey = '';

    this.material = new THREE.ShaderMaterial({
      uniforms: { uZMin: { value: -1 }, uZMax: { value: 3 }, uSize: { value: 2 * r.getPixelRatio() } },
      vertexShader: VERTEX_SHADER,
      fragmentShader: FRAGMENT_SHADER,
    });
    const cloud = new THREE.Points(new THREE.BufferGeometry(), this.material);
    cloud.frustumCulled = false; // its bounding sphere would go stale as it grows
    this.points = new GrowingBuffer(cloud);

    const path = new THREE.Line(new THREE.BufferGeometry(), new THREE.LineBasicMaterial({ color: 0xffffff }));
    path.frustumCulled = false;
    this.trajectory = new GrowingBuffer(path);

    // The scanner: a ball and its axes (x red, y green, z blue), scaled to stay visible.
    this.marker = new THREE.Group();
    this.marker.add(new THREE.Mesh(new THREE.SphereGeometry(0.25, 16, 8),
      new THREE.MeshBasicMaterial({ color: 0xff4fd8 })));
    this.marker.add(new THREE.AxesHelper(1));
    this.marker.visible = false;
    for (const obj of [path, this.marker]) { // drawn last and over the points: never hidden by walls
      obj.traverse((o) => { o.renderOrder = 1; if (o.material) o.material.depthTest = false; });
    }

    this.scene.add(cloud, path, this.marker);
  }

  resize() {
    const { clientWidth: w, clientHeight: h } = this.container;
    if (!w || !h) return;
    this.renderer.setSize(w, h, false);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
    this.dirty = true;
  }

  // A new scan (or a new connection, which replays everything): forget what is shown.
  clear() {
    this.pointCount = 0;
    this.box.makeEmpty();
    this.onCount(0);
    if (!this.renderer) return;
    this.points.clear();
    this.trajectory.clear();
    this.marker.visible = false;
    this.resetView();
  }

  resetView() {
    this.userMoved = false;
    this.onUserMoved(false);
    this.dirty = true;
  }

  setTrajectory(xyz) {
    if (!this.renderer) return;
    this.trajectory.clear();
    this.trajectory.append(xyz);
    this.dirty = true;
  }

  // One update: the newest pose [x y z qx qy qz qw] and the map's new points.
  update(pose, xyz) {
    this.pointCount += xyz.length / 3;
    for (let i = 0; i < xyz.length; i += 3) this.growBox(xyz[i], xyz[i + 1], xyz[i + 2]);
    this.onCount(this.pointCount);
    if (!this.renderer) return;
    this.points.append(xyz);
    this.extendTrajectory(pose);
    this.marker.position.set(pose[0], pose[1], pose[2]);
    this.marker.quaternion.set(pose[3], pose[4], pose[5], pose[6]);
    this.marker.visible = true;
    this.dirty = true;
  }

  // Each update's pose extends the line (a replayed backlog repeats the newest pose: skip it).
  extendTrajectory(pose) {
    const t = this.trajectory;
    const i = (t.count - 1) * 3;
    if (t.count && Math.hypot(t.array[i] - pose[0], t.array[i + 1] - pose[1], t.array[i + 2] - pose[2]) < 1e-3) return;
    t.append(new Float32Array(pose.slice(0, 3)));
  }

  // A ground grid under the map, a little larger than it, with round cell sizes (1, 2, 5 m...).
  // Kept within view: lines crossing behind the camera vanish in some software renderers.
  fitGrid() {
    const empty = this.box.isEmpty();
    const size = empty ? 20 : Math.max(this.box.max.x - this.box.min.x, this.box.max.y - this.box.min.y) * 1.2 + 4;
    const step = niceStep(size / 20);
    const cells = 2 * Math.ceil(size / step / 2);
    const key = `${step}:${cells}`;
    if (key !== this.gridKey) {
      if (this.grid) {
        this.scene.remove(this.grid);
        this.grid.dispose();
      }
      this.grid = new THREE.GridHelper(cells * step, cells, 0x4a5668, 0x283040);
      this.grid.rotation.x = Math.PI / 2; // GridHelper lies in xz; ours is the xy ground plane
      this.scene.add(this.grid);
      this.gridKey = key;
    }
    const centre = empty ? new THREE.Vector3() : this.box.getCenter(new THREE.Vector3());
    const snap = (v) => Math.round(v / step) * step;
    this.grid.position.set(snap(centre.x), snap(centre.y), empty ? 0 : this.box.min.z);
  }

  growBox(x, y, z) {
    const { min, max } = this.box;
    if (x < min.x) min.x = x; if (x > max.x) max.x = x;
    if (y < min.y) min.y = y; if (y > max.y) max.y = y;
    if (z < min.z) min.z = z; if (z > max.z) max.z = z;
  }

  // Unless the user has moved the camera, glide towards a view of the whole map.
  autoFit(dt) {
    if (this.userMoved || this.box.isEmpty()) return false;
    const centre = this.box.getCenter(new THREE.Vector3());
    const radius = Math.max(this.box.getSize(new THREE.Vector3()).length() / 2, 4);
    const vfov = THREE.MathUtils.degToRad(this.camera.fov);
    const hfov = 2 * Math.atan(Math.tan(vfov / 2) * this.camera.aspect);
    const distance = radius / Math.sin(Math.min(vfov, hfov) / 2);
    const wanted = centre.clone().addScaledVector(VIEW_DIRECTION, distance);
    if (wanted.distanceTo(this.camera.position) < 0.01 && centre.distanceTo(this.controls.target) < 0.01) return false;
    const k = 1 - Math.exp(-dt * 3); // lightly: about a quarter of the way each 100 ms
    this.controls.target.lerp(centre, k);
    this.camera.position.lerp(wanted, k);
    return true;
  }

  frame(now) {
    const dt = Math.min((now - this.lastFrame) / 1000, 0.1);
    this.lastFrame = now;
    let changed = this.autoFit(dt);
    changed = this.controls.update(dt) || changed; // true while damping still moves the camera
    if (!changed && !this.dirty) return; // render only when something changed (phones' batteries)
    this.dirty = false;
    this.points.flush();
    this.trajectory.flush();
    if (!this.box.isEmpty()) {
      this.material.uniforms.uZMin.value = this.box.min.z;
      this.material.uniforms.uZMax.value = this.box.max.z;
    }
    this.fitGrid();
    this.marker.scale.setScalar(Math.max(this.camera.position.distanceTo(this.marker.position) * 0.03, 0.2));
    this.renderer.render(this.scene, this.camera);
  }
}

// --- the WebSocket -------------------------------------------------------------------------

const KIND_UPDATE = 1;
const KIND_TRAJECTORY = 2;

// One binary message, little-endian (see device/live.py):
//   "SLV1", uint32 kind, uint32 seq, uint32 n
//   kind 1: float64 t_s, float64 lag_s, float32[7] pose, float32[n*3] new map points
//   kind 2: float32[n*3] the whole trajectory so far
export function parseMessage(buf) {
  if (buf.byteLength < 16) return null;
  const dv = new DataView(buf);
  const magic = String.fromCharCode(...new Uint8Array(buf, 0, 4));
  if (magic !== 'SLV1') return null;
  const kind = dv.getUint32(4, true);
  const seq = dv.getUint32(8, true);
  const n = dv.getUint32(12, true);
  let off = 16;
  const msg = { kind, seq, n };
  if (kind === KIND_UPDATE) {
    if (buf.byteLength < 60) return null;
    msg.t_s = dv.getFloat64(16, true);
    msg.lag_s = dv.getFloat64(24, true);
    msg.pose = Array.from({ length: 7 }, (_, i) => dv.getFloat32(32 + 4 * i, true));
    off = 60;
  } else if (kind !== KIND_TRAJECTORY) {
    return null;
  }
  if (buf.byteLength < off + n * 12) return null;
  msg.xyz = new Float32Array(buf.slice(off, off + n * 12)); // a copy: aligned whatever `off` is
  return msg;
}

// Keeps a WebSocket to /api/v1/live open (reconnecting with backoff) and feeds the view.
export class LiveSocket {
  constructor(view, { url, onLag = () => {}, onState = () => {} }) {
    Object.assign(this, { view, url, onLag, onState });
    this.backoff = 500;
    this.ws = null;
    this.timer = null;
  }

  start() {
    clearTimeout(this.timer);
    if (this.ws) {
      this.ws.onclose = null; // a deliberate restart: don't schedule a reconnect
      this.ws.close();
    }
    const ws = new WebSocket(this.url());
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      console.info('live: connected');
      this.backoff = 500;
      this.view.clear(); // the server replays the whole scan to a new client
      this.onState(true);
    };
    ws.onmessage = (ev) => this.handle(ev.data);
    ws.onclose = (ev) => {
      console.info(`live: closed (${ev.code}), reconnecting in ${this.backoff} ms`);
      this.onState(false);
      this.timer = setTimeout(() => this.start(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    };
    this.ws = ws;
  }

  handle(data) {
    if (typeof data === 'string') { // {"type":"scan","scan_id":...,"generation":N}: a new scan
      let msg = null;
      try {
        msg = JSON.parse(data);
      } catch (err) {
        console.warn('live: bad text message', data);
      }
      if (msg && msg.type === 'scan') this.view.clear();
      return;
    }
    const msg = parseMessage(data);
    if (!msg) return;
    if (msg.kind === KIND_TRAJECTORY) {
      if (msg.seq === 0) this.view.clear(); // seq 0: a new scan began
      this.view.setTrajectory(msg.xyz);
    } else {
      this.view.update(msg.pose, msg.xyz);
      this.onLag(msg.lag_s);
    }
  }
}
