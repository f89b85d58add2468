// The dashboard: the node's streams and relay links from the JSON API,
// refreshed every two seconds, with a bitrate sparkline per stream over the
// last five minutes (the API's bitrate_history, 5 s steps).
'use strict';

(() => {
  const { el, bits, bytes, duration, hostPort } = ts;
  const periodMs = 2000, historyPoints = 60; // five minutes of 5 s steps
  const linkBytes = new Map(); // link key -> {bytes, at}
  let node = null;

  function codecs(s) {
    if (!s.ts) return s.format === 'raw' ? ['raw bytes'] : [];
    const list = s.ts.programs.flatMap((p) => p.streams.map((e) => e.codec));
    if (s.ts.video) {
      const i = list.indexOf(s.ts.video.codec === 'mpeg1video' ? 'mpeg2video' : s.ts.video.codec);
      if (i >= 0) list[i] = s.ts.video.codec;
    }
    return [...new Set(list)];
  }

  function resolution(s) {
    const v = s.ts && s.ts.video;
    if (!v || !v.width) return '–';
    return v.width + '×' + v.height + (v.frame_rate ? ' @ ' + +v.frame_rate.toFixed(2) + ' fps' : '');
  }

  function sparkline(values) {
    const w = 300, h = 36, n = historyPoints;
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
    svg.setAttribute('preserveAspectRatio', 'none');
    if (values.length < 2) return svg;
    const top = Math.max(...values, 1);
    // Until the history is long, it is stretched over at least a minute.
    const span = Math.min(n, Math.max(values.length, 12)) - 1;
    const pts = values.map((v, i) => [i * (w / span), h - 2 - (v / top) * (h - 4)]);
    const line = pts.map((p) => p[0].toFixed(1) + ',' + p[1].toFixed(1)).join(' ');
    const area = document.createElementNS(svg.namespaceURI, 'polygon');
    area.setAttribute('points', `0,${h} ${line} ${pts[pts.length - 1][0].toFixed(1)},${h}`);
    const pl = document.createElementNS(svg.namespaceURI, 'polyline');
    pl.setAttribute('points', line);
    svg.append(area, pl);
    return svg;
  }

  function copyRow(label, text) {
    const id = 'c' + Math.random().toString(36).slice(2);
    return el('div', { class: 'copy' }, el('span', { class: 'label' }, label), el('code', { id }, text),
      el('button', { type: 'button', 'data-copy': id }, 'Copy'));
  }

  // urls lists how to play and publish stream name on this node.
  function urls(name, codecList) {
    const http = location.host, enc = encodeURIComponent(name);
    const wsScheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    const play = [
      ['browser', location.origin + '/play/' + enc],
      ['HTTP-TS', location.origin + '/live/' + enc + '.ts'],
      ['WebSocket', wsScheme + http + '/ws/' + enc],
    ];
    const pub = [['HTTP', location.origin + '/publish/' + enc]];
    for (const l of (node && node.listeners) || []) {
      if (l.stream !== name) continue;
      if (l.role === 'play' && l.protocol === 'ws') play.push(['WebSocket', wsScheme + hostPort(l.address) + '/']);
      if (l.role === 'play' && l.protocol === 'tcp') play.push(['TCP', 'tcp://' + hostPort(l.address)]);
      if (l.role === 'ingest') pub.push([l.protocol.toUpperCase(), l.protocol + '://' + hostPort(l.address)]);
    }
    const target = pub.find((p) => p[0] === 'TCP') || pub[0];
    const suffix = target[0] === 'UDP' ? '?pkt_size=1316' : '';
    // The command encodes what the stream carries now: MPEG-1 for JSMpeg,
    // else H.264 and AAC for mpegts.js.
    const codec = codecList.includes('mpeg1video') ? '-c:v mpeg1video -b:v 1000k -bf 0 -c:a mp2'
      : '-c:v libx264 -preset veryfast -tune zerolatency -g 50 -c:a aac';
    const ffmpeg = 'ffmpeg -re -i input.mp4 ' + codec + ' -f mpegts ' + target[1] + suffix;
    return { play, pub, ffmpeg };
  }

  function streamCard(s) {
    const h = (s.bitrate_history || []).slice(-historyPoints);
    const state = s.live ? 'live' : 'waiting';
    const viewers = Object.entries(s.viewers || {}).filter(([, n]) => n > 0);
    const cuts = Object.entries(s.disconnects || {}).map(([r, n]) => r + ' ' + n).join(', ');
    const p = s.publisher;
    const u = urls(s.name, codecs(s));
    return el('article', { class: 'card stream', 'data-stream': s.name },
      el('header', {}, el('a', { href: '/play/' + encodeURIComponent(s.name), title: 'play in the browser' }, s.name),
        el('span', { class: 'badge ' + state }, state), el('span', { class: 'grow' }),
        el('span', { class: 'bitrate mono' }, bits(s.bitrate))),
      sparkline(h),
      el('dl', { class: 'kv' },
        el('dt', {}, 'publisher'), el('dd', {}, p ? p.protocol + ' from ' + p.remote + (p.path && p.path.length ? ' via ' + p.path.join(' → ') : '') : '–'),
        el('dt', {}, 'codecs'), el('dd', { class: 'codecs' }, codecs(s).join(', ') || '–'),
        el('dt', {}, 'video'), el('dd', {}, resolution(s)),
        el('dt', {}, 'viewers'), el('dd', {}, viewers.length ? viewers.map(([k, n]) => k + ' ' + n).join(', ') : '0'),
        el('dt', {}, 'bytes in / out'), el('dd', {}, bytes(s.bytes_in) + ' / ' + bytes(s.bytes_out)),
        el('dt', {}, 'drops / skips'), el('dd', {}, bytes(s.dropped_in) + ' dropped in, ' + s.skips + ' skips (' + bytes(s.skip_bytes) + ')'),
        el('dt', {}, 'disconnects'), el('dd', {}, cuts || '0'),
        el('dt', {}, 'uptime'), el('dd', {}, p ? duration(p.uptime_seconds) + ' publishing' : 'idle ' + duration(s.age_seconds)),
        s.ts ? [el('dt', {}, 'TS'), el('dd', {}, s.ts.continuity_errors + ' CC errors, GOP cache ' + s.ts.gop_cache)] : null),
      el('details', {}, el('summary', {}, 'URLs and publish command'),
        el('h3', { style: 'margin-top:8px' }, 'Play'), u.play.map(([k, v]) => copyRow(k, v)),
        el('h3', { style: 'margin-top:8px' }, 'Publish'), u.pub.map(([k, v]) => copyRow(k, v)),
        copyRow('ffmpeg', u.ffmpeg)));
  }

  function renderStreams(list) {
    const box = document.getElementById('stream-list');
    const open = new Set([...box.querySelectorAll('article')].filter((a) => a.querySelector('details').open).map((a) => a.dataset.stream));
    document.getElementById('stream-count').textContent = '(' + list.length + ')';
    if (!list.length) {
      box.replaceChildren(el('div', { class: 'empty' }, 'No streams yet. Publish one: ',
        el('code', {}, 'ffmpeg -re -f lavfi -i testsrc=size=640x480:rate=25 -f mpegts -codec:v mpeg1video -b:v 1000k -bf 0 tcp://' + location.hostname + ':50001')));
      return;
    }
    box.replaceChildren(...list.map((s) => {
      const card = streamCard(s);
      if (open.has(s.name)) card.querySelector('details').open = true;
      return card;
    }));
  }

  function renderNode(n, links) {
    document.getElementById('node-name').textContent = n.name + ' · ' + n.version;
    document.title = 'tsstream · ' + n.name;
    const kv = [['name', n.name], ['version', n.version], ['uptime', duration(n.uptime_seconds)], ['streams', n.streams]];
    if (n.report_to) kv.push(['reports to', n.report_to]);
    document.getElementById('node-kv').replaceChildren(...kv.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
    document.getElementById('listeners').replaceChildren(
      el('tr', {}, ['role', 'protocol', 'address', 'stream'].map((h) => el('th', {}, h))),
      ...n.listeners.map((l) => el('tr', {}, el('td', {}, l.role), el('td', {}, l.protocol), el('td', { class: 'mono' }, l.address), el('td', {}, l.stream || ''))));
    const rows = links.map((l) => el('tr', {}, el('td', {}, l.kind), el('td', {}, l.stream), el('td', { class: 'mono' }, l.url),
      el('td', {}, el('span', { class: 'badge ' + l.state }, l.state)), el('td', {}, bits(l.rate)),
      el('td', {}, bytes(l.bytes_sent || l.bytes_in || 0)), el('td', {}, l.reconnects), el('td', { class: 'dim' }, l.last_error || '')));
    document.getElementById('links').replaceChildren(
      el('tr', {}, ['kind', 'stream', 'url', 'state', 'throughput', 'bytes', 'reconnects', 'last error'].map((h) => el('th', {}, h))),
      ...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 8, class: 'dim' }, 'none: add push targets or pull sources (see README)'))]));
  }

  // withRates adds each link's throughput since the last refresh.
  function withRates(links) {
    const now = performance.now();
    return links.map((l) => {
      const key = l.kind + ' ' + l.stream + ' ' + l.url, b = l.bytes_sent || l.bytes_in || 0;
      const prev = linkBytes.get(key);
      linkBytes.set(key, { b, at: now });
      return { ...l, rate: prev && b >= prev.b ? (b - prev.b) * 8000 / (now - prev.at) : 0 };
    });
  }

  async function refresh() {
    try {
      const [s, n] = await Promise.all([ts.getJSON('/api/v1/streams'), ts.getJSON('/api/v1/node')]);
      node = n;
      renderStreams(s.streams);
      renderNode(n, withRates(n.links));
      document.getElementById('error').textContent = '';
    } catch (e) {
      document.getElementById('error').textContent = 'cannot refresh: ' + e.message;
    }
    try {
      const c = await ts.getJSON('/api/v1/cluster');
      const sec = document.getElementById('cluster');
      sec.hidden = !c.nodes.length;
      if (c.nodes.length) window.tscluster.draw(document.getElementById('cluster-tree'), c);
    } catch (e) { /* the cluster view is optional */ }
  }

  refresh();
  setInterval(refresh, periodMs);
})();
