// The scanner's web UI: state and Start/Stop, live numbers, sensors, storage, the live 3D view
// and the scans with their products. Talks to the daemon's /api/v1 with a bearer token.
import { LiveView, LiveSocket } from '/static/live.js';

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'scanner.token';
const STATUS_MS = 500;
const SCANS_MS = 2000;

let token = takeToken();
let authFailed = false; // after a 401, polling pauses until a new token is given
let status = null; // the last GET /status
let busy = false; // a Start/Stop/Acknowledge request is in flight
let liveLag = { value: null, at: 0 }; // lag_s from the WebSocket, and when it came

// --- small helpers ---------------------------------------------------------------------------

// el('a', {class: 'x', href: '/'}, 'text', child, ...): a DOM element (text is never parsed as HTML).
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const isNum = (x) => typeof x === 'number' && Number.isFinite(x);
const fixed = (x, digits, unit = '') => (isNum(x) ? `${x.toFixed(digits)}${unit}` : '—');

function fmtDuration(s) {
  if (!isNum(s)) return '—';
  const t = Math.floor(s);
  const hms = [Math.floor(t / 3600), Math.floor(t / 60) % 60, t % 60];
  const pad = (n) => String(n).padStart(2, '0');
  return hms[0] ? `${hms[0]}:${pad(hms[1])}:${pad(hms[2])}` : `${hms[1]}:${pad(hms[2])}`;
}

function fmtTime(utc) {
  const d = new Date(utc);
  return Number.isNaN(d.getTime()) ? (utc || '—') : d.toLocaleString([], { dateStyle: 'short', timeStyle: 'medium' });
}

function setText(id, text) {
  const node = $(id);
  if (node.textContent !== text) node.textContent = text;
}

function show(id, text) { // a message element: shown with text, hidden without
  const node = $(id);
  node.hidden = !text;
  if (text) setText(id, text);
}

// --- auth ------------------------------------------------------------------------------------

// The token comes in the URL (#token=...) once; keep it and take it out of the address bar.
function takeToken() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    localStorage.setItem(TOKEN_KEY, fromHash);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return fromHash || localStorage.getItem(TOKEN_KEY) || '';
}

function askForToken(message) {
  $('token-form').hidden = false;
  setText('token-message', message);
  $('token-input').value = '';
}

$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const value = $('token-input').value.trim();
  if (!value) return;
  token = value;
  localStorage.setItem(TOKEN_KEY, token);
  authFailed = false;
  $('token-form').hidden = true;
  socket.start();
  refresh();
});

// --- HTTP ------------------------------------------------------------------------------------

class HttpError extends Error {}

// FastAPI errors: {"detail": "text"} or {"detail": [{"msg": ...}, ...]} for validation errors.
function detailOf(body, fallback) {
  const d = body && body.detail;
  if (typeof d === 'string') return d;
  if (Array.isArray(d)) return d.map((e) => e.msg || JSON.stringify(e)).join('; ');
  return fallback;
}

async function api(method, path, body) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(method === 'GET' ? 4000 : 15000),
  });
  if (res.status === 401) {
    authFailed = true;
    askForToken('Wrong or missing token.');
    throw new HttpError('wrong or missing token');
  }
  const json = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw new HttpError(`${res.status}: ${detailOf(json, res.statusText || 'request failed')}`);
  return json;
}

// --- status ----------------------------------------------------------------------------------

async function pollStatus() {
  try {
    status = await api('GET', '/api/v1/status');
    show('conn', '');
    renderStatus(status);
  } catch (err) {
    if (!(err instanceof HttpError)) show('conn', 'no connection to the scanner, retrying…');
  }
}

function renderStatus(s) {
  const badge = $('state');
  setText('state', s.state || 'unknown');
  badge.className = `badge state-${s.state || 'unknown'}`;
  show('error', [s.error, s.slam && s.slam.error].filter(Boolean).join(' — '));
  renderButton(s);
  renderLive(s);
  renderSensors(s.sensors || {});
  renderStorage(s.storage);
  const p = s.state === 'processing' ? s.processing : null; // kept after it ends: hide it then
  show('processing', p ? `Processing ${p.scan_id || ''}: ${p.stage || '…'} ${fixed(p.progress * 100, 0, ' %')}` : '');
}

const BUTTON = { // state -> [label, class, enabled]
  idle: ['Start scan', 'start', true],
  scanning: ['Stop scan', 'stop', true],
  error: ['Acknowledge', 'ack', true],
  starting: ['Starting…', '', false],
  stopping: ['Stopping…', '', false],
  processing: ['Processing…', '', false],
};

function renderButton(s) {
  const [label, cls, enabled] = BUTTON[s.state] || ['…', '', false];
  const button = $('scan-button');
  setText('scan-button', label);
  button.className = `scan-button ${cls}`;
  button.disabled = busy || !enabled || (s.state === 'scanning' && !s.scan_id);
  $('mark-form').hidden = !(s.state === 'scanning' && s.scan_id);
}

function renderLive(s) {
  const slam = s.slam || {};
  const rec = s.recording || {};
  setText('elapsed', fmtDuration(isNum(rec.duration_s) ? rec.duration_s : (s.state === 'scanning' ? s.since_s : null)));
  setText('distance', fixed(slam.distance_m, 1, ' m'));
  setText('slam-points', isNum(slam.map_points) ? slam.map_points.toLocaleString() : '—');
  setText('rtf', fixed(slam.realtime_factor, 1, '×'));
  setText('loops', isNum(slam.loops) ? (slam.loops + (isNum(slam.last_loop_correction_m)
    ? ` (last moved ${fixed(slam.last_loop_correction_m * 100, 0, ' cm')})` : '')) : '—');
  setText('slam-mode', slam.mode || '—');
  const fresh = performance.now() - liveLag.at < 2000; // prefer the WebSocket's newer figure
  setText('lag', fixed(fresh ? liveLag.value : slam.lag_s, 2, ' s'));
  const warnings = [];
  if (slam.degenerate) warnings.push('Degenerate geometry: the map may drift here. Add structure to the view.');
  if (slam.imu_ok === false) warnings.push('IMU problem: SLAM runs without it.');
  show('degenerate', warnings.join(' '));
}

function renderSensors(sensors) {
  const rows = Object.entries(sensors).map(([name, x]) => {
    x = x || {};
    const dot = el('span', { class: `dot ${x.connected ? 'ok' : 'bad'}`, title: x.connected ? 'connected' : 'not connected' });
    return el('tr', { 'data-sensor': name, class: x.connected ? '' : 'down' },
      el('td', {}, dot, name.replace(/_/g, ' ')),
      el('td', {}, fixed(x.rate_hz, 1, ' Hz')),
      el('td', { class: x.drops ? 'warn' : '' }, String(x.drops ?? '—')),
      el('td', { class: x.errors ? 'warn' : '' }, String(x.errors ?? '—')));
  });
  $('sensors').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 4 }, 'no sensors reported'))]));
}

function renderStorage(st) {
  if (!st) return $('storage').replaceChildren('—');
  const gb = (b) => (isNum(b) ? (b / 1e9).toFixed(1) : '—');
  const used = isNum(st.total_bytes) && st.total_bytes > 0 ? 1 - st.free_bytes / st.total_bytes : null;
  const low = isNum(st.minutes_left) && st.minutes_left < 10;
  $('storage').replaceChildren(
    el('div', { class: 'storage-line' }, el('strong', {}, `${gb(st.free_bytes)} GB`), ` free of ${gb(st.total_bytes)} GB`),
    el('div', { class: `bar ${low ? 'low' : ''}` }, el('div', { style: `width:${((used ?? 0) * 100).toFixed(1)}%` })),
    el('div', { class: low ? 'warning' : 'muted' },
      isNum(st.minutes_left) ? `≈ ${Math.floor(st.minutes_left)} min of scanning left` : ''));
}

// --- scans -----------------------------------------------------------------------------------

const scanRows = new Map(); // id -> {sig, node}: rows are rebuilt only when their scan changed

async function pollScans() {
  try {
    renderScans(await api('GET', '/api/v1/scans'));
  } catch (err) {
    /* the status poll reports lost connections */
  }
}

function renderScans(scans) {
  const list = $('scans');
  const nodes = scans.map((scan) => {
    const sig = JSON.stringify(scan) + token;
    const known = scanRows.get(scan.id);
    if (known && known.sig === sig) return known.node;
    const node = scanRow(scan);
    scanRows.set(scan.id, { sig, node });
    return node;
  });
  const ids = new Set(scans.map((s) => s.id));
  for (const id of scanRows.keys()) if (!ids.has(id)) scanRows.delete(id);
  if (!nodes.length) nodes.push(el('li', { class: 'empty muted' }, 'No scans yet.'));
  const same = nodes.length === list.children.length && nodes.every((n, i) => n === list.children[i]);
  if (!same) list.replaceChildren(...nodes); // leave the DOM alone if nothing changed (taps survive)
}

// A product of a scan (kind 'scans') or a site ('sites'). ?token= because a plain link can't
// send the Authorization header.
function productLink(kind, owner, name) {
  const path = name.split('/').map(encodeURIComponent).join('/');
  const href = `/api/v1/${kind}/${encodeURIComponent(owner)}/products/${path}?token=${encodeURIComponent(token)}`;
  const attrs = { class: 'product-link', 'data-product': name, href };
  if (/\.html?$/i.test(name)) Object.assign(attrs, { target: '_blank', rel: 'noopener' }); // reports: view
  else attrs.download = `${owner}_${name.split('/').pop()}`;
  return el('a', attrs, name);
}

// A viewer page (splat or map) of a scan (query 'scan') or a site ('site'), in a new tab.
function viewerLink(page, query, owner) {
  const href = `/static/${page}.html?${query}=${encodeURIComponent(owner)}`;
  return el('a', { class: `product-link ${page}-link`, href, target: '_blank', rel: 'noopener' }, `view ${page}`);
}

function scanRow(scan) {
  const processing = scan.state === 'processing' && isNum(scan.progress);
  const pct = processing ? Math.round(scan.progress * 100) : 0;
  return el('li', { class: 'scan', 'data-scan-id': scan.id },
    el('div', { class: 'scan-head' },
      el('span', { class: 'scan-id' }, scan.id),
      el('span', { class: `badge scan-state scan-${scan.state}` }, scan.state)),
    el('div', { class: 'muted' }, `${fmtTime(scan.created_utc)} · ${fmtDuration(scan.duration_s)}`),
    processing ? el('div', { class: 'progress', role: 'progressbar', 'aria-valuenow': pct, 'aria-valuemin': 0, 'aria-valuemax': 100 },
      el('div', { class: 'bar' }, el('div', { style: `width:${pct}%` })), el('span', {}, `${scan.stage || ''} ${pct} %`.trim())) : null,
    scan.error ? el('div', { class: 'error' }, scan.error) : null,
    isNum(scan.splat_progress) ? el('div', { class: 'muted splat-progress' }, `training the splat… ${Math.round(scan.splat_progress * 100)} %`) : null,
    el('div', { class: 'scan-foot' },
      el('div', { class: 'products' }, ...(scan.products || []).map((name) => productLink('scans', scan.id, name)),
        (scan.products || []).includes('scene.splat') ? viewerLink('splat', 'scan', scan.id) : null,
        scan.state === 'done' && (scan.products || []).includes('map.ply') // paged from its octree (made when first viewed)
          ? viewerLink('map', 'scan', scan.id)
          : null),
      ['recorded', 'recovered', 'failed'].includes(scan.state) && !processing // products not made (yet)
        ? el('button', { class: 'process', type: 'button', onclick: () => processScan(scan.id) }, 'Process')
        : null,
      el('button', { class: 'delete', type: 'button', onclick: () => deleteScan(scan.id) }, 'Delete')),
    scan.state === 'done' ? siteTick(scan.id) : null,
    scan.state === 'done' && (scan.products || []).includes('marks.csv') ? georefForm(scan.id) : null);
}

async function processScan(id) { // its products made again, after any other processing
  await act(() => api('POST', `/api/v1/scans/${encodeURIComponent(id)}/process`));
}

async function deleteScan(id) {
  if (!confirm(`Delete scan ${id} and all its files?`)) return;
  await act(() => api('DELETE', `/api/v1/scans/${encodeURIComponent(id)}`));
}

// --- georeferencing: marks tied to surveyed control points (POST /api/v1/scans/{id}/georef) ---

const mm = (m) => (isNum(m) ? `${(m * 1000).toFixed(1)} mm` : '—');
const georefJobs = new Map(); // scan id -> its last georeferencing as shown (rows are rebuilt)

function georefForm(id) {
  const job = georefJobs.get(id);
  const form = el('form', { class: 'georef-form' },
    el('label', {}, 'Control points (CSV: name, easting, northing, height, epsg) ',
      el('input', { name: 'control', type: 'file', accept: '.csv,.txt,text/csv', required: true })),
    el('label', {}, 'Check points ', el('input', { name: 'check', type: 'text', placeholder: 'CP02, CP14' })),
    el('label', {}, 'Leave out ', el('input', { name: 'exclude', type: 'text', placeholder: 'a flagged point' })),
    el('label', {}, 'Adjust ', el('select', { name: 'adjust' },
      el('option', { value: 'graph' }, 'bend the pose graph'), el('option', { value: 'rigid' }, 'rigid fit'))),
    el('label', {}, el('input', { name: 'level', type: 'checkbox' }), ' level: turn about the vertical only'),
    el('label', {}, el('input', { name: 'scale', type: 'checkbox' }), ' scale (7 parameters; no E57)'),
    el('label', {}, 'Flag beyond ', el('input', {
      name: 'tolerance', type: 'number', min: '1', max: '10000', step: 'any', value: '50', required: true,
      style: 'width: 5em',
    }), ' mm'),
    el('button', { type: 'submit', disabled: job && job.state === 'running' }, 'Georeference'));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); georef(id, form); });
  return el('details', { class: 'georef', open: Boolean(job) }, el('summary', {}, 'Georeference…'), form,
    el('div', { class: 'georef-result', 'aria-live': 'polite' }, ...(job ? georefReport(id, job) : [])));
}

async function georef(id, form) {
  const names = (field) => form.elements[field].value.split(/[\s,;]+/).filter(Boolean);
  const base = `/api/v1/scans/${encodeURIComponent(id)}/georef`;
  const shown = (job) => { georefJobs.set(id, job); scanRows.delete(id); return pollScans(); };
  try {
    const body = {
      control_csv: await form.elements.control.files[0].text(),
      check: names('check'), exclude: names('exclude'), adjust: form.elements.adjust.value,
      level: form.elements.level.checked, scale: form.elements.scale.checked,
      tolerance_m: Number(form.elements.tolerance.value) / 1000,
    };
    await shown({ state: 'running' });
    let job = await api('POST', base, body);
    while (job.state === 'running') {
      await sleep(1000);
      job = await api('GET', base);
    }
    await shown(job);
  } catch (err) {
    await shown({ state: 'failed', error: err.message });
  }
}

function georefReport(id, job) { // the residuals after (and before) the graph was bent
  if (job.state === 'running') return [el('span', { class: 'muted' }, 'tying the scan to its control points…')];
  if (job.state !== 'done') return [el('span', { class: 'error' }, job.error || job.state)];
  const { rms_m: rms, rms_before_m: before, flagged } = job.summary;
  const row = (role) => el('tr', { 'data-role': role }, el('td', {}, role),
    el('td', { class: 'rms' }, mm(rms[role])), el('td', {}, before ? mm(before[role]) : '—'));
  return [
    el('table', { class: 'residuals' },
      el('thead', {}, el('tr', {}, el('th', {}, 'RMS'), el('th', {}, 'now'), el('th', {}, 'rigid'))),
      el('tbody', {}, row('control'), row('check'))),
    flagged.length ? el('div', { class: 'warning flagged' }, `off by more than ${mm(job.summary.tolerance_m)}: ${flagged.join(', ')}`) : null,
    el('div', { class: 'products' }, ...job.products.map((name) => productLink('scans', id, name))),
  ];
}

// --- sites: scans joined into one frame (scanner site, POST /api/v1/sites) ------------------

const siteScans = []; // the scans ticked for a new site, in the order ticked: the first holds the frame

function siteTick(id) {
  const box = el('input', { type: 'checkbox', class: 'site-tick', 'data-scan': id });
  box.checked = siteScans.includes(id);
  box.addEventListener('change', () => {
    const at = siteScans.indexOf(id);
    if (box.checked && at < 0) siteScans.push(id);
    if (!box.checked && at >= 0) siteScans.splice(at, 1);
    renderSiteForm();
  });
  return el('label', { class: 'muted site-pick' }, box, ' in a new site');
}

function renderSiteForm() {
  $('site-scans').textContent = siteScans.length
    ? `${siteScans.join(' + ')} (the first holds the frame)` : 'Tick two or more processed scans.';
  $('site-make').disabled = siteScans.length < 2;
}

$('site-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const name = $('site-name').value.trim();
  const formats = [...$('site-form').querySelectorAll('input[name=format]:checked')].map((box) => box.value);
  if (!formats.length) { show('site-message', 'Tick at least one format.'); return; }
  try {
    await api('POST', '/api/v1/sites', { name, scans: [...siteScans], formats });
    show('site-message', `Joining ${siteScans.length} scans into ${name}…`);
    siteScans.length = 0;
    $('site-name').value = '';
    for (const box of document.querySelectorAll('.site-tick')) box.checked = false;
    renderSiteForm();
    await pollSites();
  } catch (err) {
    show('site-message', err.message);
  }
});

let sitesSig = '';

async function pollSites() {
  try {
    const sites = await api('GET', '/api/v1/sites');
    const sig = JSON.stringify(sites) + token;
    if (sig === sitesSig) return; // leave the DOM alone if nothing changed (taps survive)
    sitesSig = sig;
    $('sites').replaceChildren(...sites.map(siteRow));
  } catch (err) {
    /* the status poll reports lost connections */
  }
}

function siteRow(site) {
  const sessions = site.summary ? site.summary.sessions.map((x) => x.name).join(', ') : '';
  return el('li', { 'data-site': site.name },
    el('div', { class: 'scan-head' },
      el('span', { class: 'scan-id' }, site.name),
      el('span', { class: `badge scan-state scan-${site.state}` }, site.state)),
    sessions ? el('div', { class: 'muted' }, sessions) : null,
    site.error ? el('div', { class: 'error' }, site.error) : null,
    el('div', { class: 'products' }, ...site.products.map((name) => productLink('sites', site.name, name)),
      site.products.includes('map.copc.laz') ? viewerLink('map', 'site', site.name) : null));
}

// --- actions ---------------------------------------------------------------------------------

// Run one request; show its error detail if it fails; refresh everything right after.
async function act(request) {
  busy = true;
  $('scan-button').disabled = true;
  show('action-message', '');
  try {
    await request();
  } catch (err) {
    show('action-message', err.name === 'TimeoutError' ? 'The scanner did not answer in time.' : err.message);
  } finally {
    busy = false;
    await refresh();
  }
}

$('scan-button').addEventListener('click', () => {
  const s = status || {};
  if (s.state === 'idle') act(() => api('POST', '/api/v1/scans', {}));
  else if (s.state === 'scanning') act(() => api('POST', `/api/v1/scans/${encodeURIComponent(s.scan_id)}/stop`));
  else if (s.state === 'error') act(() => api('POST', '/api/v1/button', { press: 'short' }));
});

// A control point: the reference point (the handle's tip) held on it, marked now.
$('mark-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const s = status || {};
  if (s.state !== 'scanning' || !s.scan_id) return;
  const name = $('mark-name').value.trim();
  try {
    const m = await api('POST', `/api/v1/scans/${encodeURIComponent(s.scan_id)}/marks`, name ? { name } : {});
    const at = m.position_m ? ` at ${m.position_m.map((v) => v.toFixed(2)).join(', ')} m` : '';
    show('mark-message', `Marked ${m.name}${at}`);
    $('mark-name').value = '';
  } catch (err) {
    show('mark-message', err.message);
  }
});

// --- live view -------------------------------------------------------------------------------

const view = new LiveView($('live-canvas'), {
  onCount: (n) => {
    const node = $('map-points');
    node.dataset.count = String(n);
    node.textContent = String(n);
  },
  onUserMoved: (moved) => { $('view-reset').hidden = !moved; },
});
$('view-reset').addEventListener('click', () => view.resetView());
window.scannerView = view; // for debugging from the console and browser tests

const socket = new LiveSocket(view, {
  url: () => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/live?token=${encodeURIComponent(token)}`,
  onLag: (lag) => { liveLag = { value: lag, at: performance.now() }; },
});

// --- start -----------------------------------------------------------------------------------

function refresh() {
  return Promise.all([pollStatus(), pollScans(), pollSites()]);
}

async function every(ms, poll) { // sequential, so a slow answer never piles requests up
  for (;;) {
    if (!authFailed) await poll();
    await sleep(ms);
  }
}

if (!token) askForToken('');
socket.start();
every(STATUS_MS, pollStatus);
every(SCANS_MS, pollScans);
every(SCANS_MS * 2, pollSites);
