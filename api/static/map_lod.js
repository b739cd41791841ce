// Which nodes of a COPC octree to draw (pure: no DOM, no three.js, so node tests it).
// A node is wanted when it is in view and its parent's points look sparser than `minPixels`
// apart on screen; nodes are taken largest-looking first until the point budget is spent.
// Positions are metres from the octree's centre (the hierarchy's center_m).

export function nodeKey(d, x, y, z) {
  return `${d}-${x}-${y}-${z}`;
}

// hierarchy: the API's /map/hierarchy -> {byKey: Map(key -> node), root, halfsize, spacing}
export function indexHierarchy(hierarchy) {
  const byKey = new Map();
  for (const [d, x, y, z, points] of hierarchy.nodes) {
    byKey.set(nodeKey(d, x, y, z), { key: nodeKey(d, x, y, z), d, x, y, z, points });
  }
  return {
    byKey,
    root: byKey.get(nodeKey(0, 0, 0, 0)),
    halfsize: hierarchy.halfsize_m,
    spacing: hierarchy.spacing_m,
  };
}

// A node's cube: its centre [3] and half side, in metres from the octree's centre.
export function nodeCube(index, node) {
  const side = (2 * index.halfsize) / 2 ** node.d;
  const centre = [node.x, node.y, node.z].map((i) => -index.halfsize + (i + 0.5) * side);
  return { centre, half: side / 2 };
}

export function children(index, node) {
  const out = [];
  for (let i = 0; i < 8; i++) {
    const child = index.byKey.get(nodeKey(node.d + 1, 2 * node.x + (i >> 2), 2 * node.y + ((i >> 1) & 1), 2 * node.z + (i & 1)));
    if (child) out.push(child);
  }
  return out;
}

// planes: [[a, b, c, d], ...] with a*x + b*y + c*z + d >= 0 inside (three.js's Frustum).
function inView(planes, centre, radius) {
  return planes.every(([a, b, c, d]) => a * centre[0] + b * centre[1] + c * centre[2] + d >= -radius);
}

// How many pixels apart a node's points look from the eye (its cells' spacing on screen).
function pixelsApart(index, node, eye, pixelsPerRadian) {
  const { centre, half } = nodeCube(index, node);
  const distance = Math.max(Math.hypot(centre[0] - eye[0], centre[1] - eye[1], centre[2] - eye[2]) - half * Math.sqrt(3), 1e-3);
  return ((index.spacing / 2 ** node.d) / distance) * pixelsPerRadian;
}

// view: {eye: [3], planes: [[4] x 6], pixelsPerRadian}; budget: points; -> nodes, in order.
export function selectNodes(index, view, budget, minPixels = 1.5) {
  const chosen = [];
  if (!index.root) return chosen;
  const queue = [{ node: index.root, priority: Infinity }]; // a small binary heap on priority
  let left = budget;
  while (queue.length) {
    const { node } = pop(queue);
    const { centre, half } = nodeCube(index, node);
    if (!inView(view.planes, centre, half * Math.sqrt(3))) continue;
    if (node.points > left && chosen.length) continue; // too large for what is left: skip it
    chosen.push(node);
    left -= node.points;
    if (pixelsApart(index, node, view.eye, view.pixelsPerRadian) < minPixels) continue; // fine enough
    for (const child of children(index, node)) {
      push(queue, { node: child, priority: pixelsApart(index, child, view.eye, view.pixelsPerRadian) });
    }
  }
  return chosen;
}

function push(heap, item) {
  heap.push(item);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent].priority >= heap[i].priority) break;
    [heap[parent], heap[i]] = [heap[i], heap[parent]];
    i = parent;
  }
}

function pop(heap) {
  const top = heap[0];
  const last = heap.pop();
  if (heap.length) {
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < heap.length && heap[l].priority > heap[best].priority) best = l;
      if (r < heap.length && heap[r].priority > heap[best].priority) best = r;
      if (best === i) break;
      [heap[best], heap[i]] = [heap[i], heap[best]];
      i = best;
    }
  }
  return top;
}
