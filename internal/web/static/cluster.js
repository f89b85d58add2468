// The cluster view: every node that reports to this one (and this one),
// drawn as the relay tree, parents left of their children, from
// /api/v1/cluster. window.tscluster.draw is used by the dashboard too.
'use strict';

window.tscluster = (() => {
  const { el, bits, duration } = ts;
  const NS = 'http://www.w3.org/2000/svg';
  const boxW = 200, boxH = 66, colW = 400, rowH = 92, pad = 16;

  function svgEl(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // levels puts each node one column right of its furthest parent.
  function levels(nodes, edges) {
    const level = new Map(nodes.map((n) => [n.name, 0]));
    for (let i = 0; i < nodes.length; i++) { // at most n rounds: cycles stop growing
      let moved = false;
      for (const e of edges) {
        if (!level.has(e.from) || !level.has(e.to)) continue;
        const want = level.get(e.from) + 1;
        if (want > level.get(e.to) && want < nodes.length) { level.set(e.to, want); moved = true; }
      }
      if (!moved) break;
    }
    return level;
  }

  function draw(box, view) {
    const nodes = view.nodes, edges = view.edges;
    if (!nodes.length) {
      box.replaceChildren(el('div', { class: 'empty' }, 'No node reports here yet. Start a node with -report-to ' + location.origin));
      return;
    }
    const level = levels(nodes, edges);
    const cols = [];
    for (const n of nodes) (cols[level.get(n.name)] ||= []).push(n);
    const pos = new Map();
    cols.forEach((col, x) => col.forEach((n, y) => pos.set(n.name, { x: pad + x * colW, y: pad + y * rowH })));
    const width = pad * 2 + (cols.length - 1) * colW + boxW;
    const height = pad * 2 + (Math.max(...cols.map((c) => c.length)) - 1) * rowH + boxH;
    const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': 'relay tree' });
    const byName = new Map(nodes.map((n) => [n.name, n]));
    // One line per parent → child pair, labelled with its streams.
    const pairs = new Map();
    for (const e of edges) {
      const k = e.from + '\u0000' + e.to;
      (pairs.get(k) || pairs.set(k, []).get(k)).push(e);
    }
    for (const list of pairs.values()) {
      const a = pos.get(list[0].from), b = pos.get(list[0].to);
      if (!a || !b) continue;
      const x1 = a.x + boxW, y1 = a.y + boxH / 2, x2 = b.x, y2 = b.y + boxH / 2, mx = (x1 + x2) / 2;
      const down = list.every((e) => e.state !== 'up') || [list[0].from, list[0].to].some((n) => byName.get(n).state === 'down');
      svg.append(svgEl('path', { class: 'edge' + (down ? ' down' : ''), d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, 'marker-end': 'url(#arrow)' }));
      list.forEach((e, i) => {
        svg.append(svgEl('text', { class: 'edge-label', x: mx, y: (y1 + y2) / 2 - 4 + i * 13, 'text-anchor': 'middle' },
          e.stream + ' · ' + e.kind + ' · ' + bits(e.bitrate)));
      });
    }
    const defs = svgEl('defs');
    const marker = svgEl('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' });
    marker.append(svgEl('path', { d: 'M0,0 L10,5 L0,10 z', fill: 'currentColor', class: 'arrow' }));
    defs.append(marker);
    svg.prepend(defs);
    for (const n of nodes) {
      const p = pos.get(n.name);
      const g = svgEl('g', { class: 'node ' + n.state, 'data-node': n.name, transform: `translate(${p.x},${p.y})` });
      g.append(svgEl('rect', { width: boxW, height: boxH, rx: 7 }));
      g.append(svgEl('text', { class: 'name', x: 10, y: 19 }, n.name + (n.self ? ' (this node)' : '')));
      g.append(svgEl('text', { class: 'dim', x: boxW - 10, y: 19, 'text-anchor': 'end' }, n.state));
      g.append(svgEl('text', { x: 10, y: 38 }, n.viewers + (n.viewers === 1 ? ' viewer' : ' viewers') + ' · in ' + bits(n.bitrate_in)));
      g.append(svgEl('text', { class: 'dim', x: 10, y: 55 }, 'out ' + bits(n.bitrate_out) + ' · ' +
        (n.self ? 'up ' + duration(n.uptime_seconds) : 'seen ' + duration(n.age_seconds) + ' ago')));
      svg.append(g);
    }
    box.replaceChildren(svg);
  }

  function table(view) {
    const t = document.getElementById('nodes');
    if (!t) return;
    document.getElementById('node-count').textContent = '(' + view.nodes.length + ')';
    t.replaceChildren(
      el('tr', {}, ['node', 'state', 'address', 'version', 'uptime', 'last report', 'streams', 'viewers', 'in', 'out', 'links'].map((h) => el('th', {}, h))),
      ...view.nodes.map((n) => el('tr', { 'data-node': n.name },
        el('td', {}, n.name), el('td', {}, el('span', { class: 'badge ' + n.state }, n.state)),
        el('td', { class: 'mono' }, n.self ? 'this node' : n.address), el('td', {}, n.version),
        el('td', {}, duration(n.uptime_seconds)), el('td', {}, n.self ? 'now' : duration(n.age_seconds) + ' ago'),
        el('td', {}, n.streams.map((s) => s.name + (s.live ? '' : ' (idle)')).join(', ')),
        el('td', {}, n.viewers), el('td', {}, bits(n.bitrate_in)), el('td', {}, bits(n.bitrate_out)),
        el('td', {}, n.links.map((l) => l.kind + ' ' + l.stream + ' → ' + l.url + ' (' + l.state + ', ' + bits(l.bitrate) + ')').join('; ') || '–'))));
  }

  async function refresh() {
    try {
      const v = await ts.getJSON('/api/v1/cluster');
      draw(document.getElementById('cluster-tree'), v);
      table(v);
      document.getElementById('error').textContent = '';
    } catch (e) {
      document.getElementById('error').textContent = 'cannot refresh: ' + e.message;
    }
  }

  if (document.body.classList.contains('cluster')) {
    refresh();
    setInterval(refresh, 2000);
  }
  return { draw };
})();
