// The player page: picks JSMpeg (MPEG-1 video, MP2 audio) or mpegts.js
// (H.264, H.265, AAC through Media Source Extensions) from the codecs the
// API reports, and starts it again by itself whenever the picture stops:
// the connection dropped, the publisher went away, the player failed.
//
// window.tsplayer exposes the page's state for scripts and tests:
// {state: "connecting" | "playing" | "offline", player, codec, frames,
//  bytes, restarts, firstFrameMs}.
'use strict';

(() => {
  const name = decodeURIComponent(location.pathname.replace(/^\/play\//, ''));
  const q = new URLSearchParams(location.search);
  const transport = q.get('transport') === 'http' ? 'http' : 'ws';
  const $ = (id) => document.getElementById(id);
  const stage = $('stage'), overlay = $('overlay');
  const wsBase = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host;
  const enc = encodeURIComponent(name);
  // A stream with play_token on needs ?token= on its media URLs: the page
  // passes on the one it was opened with (/play/NAME?token=…).
  const tokenQuery = q.has('token') ? '?token=' + encodeURIComponent(q.get('token')) : '';

  // stallMs is how long the picture may stand still before the player is
  // started again; startMs bounds the wait for the first picture.
  const stallMs = 2500, startMs = 6000, offlinePollMs = 1000;

  const status = window.tsplayer = {
    stream: name, state: 'connecting', player: '', codec: '', frames: 0, bytes: 0,
    restarts: 0, firstFrameMs: null, message: '',
  };
  let current = null; // the running player: {kind, destroy, setMuted, buffer, bitrate}
  let startedAt = 0, lastFrame = 0, generation = 0, muted = true;

  document.title = 'tsstream · ' + name;
  $('title').textContent = name;
  if (q.has('embed')) document.body.classList.add('embedded');
  const src = location.origin + '/play/' + enc + '?embed=1';
  $('snippet').textContent = '<iframe src="' + src + '" width="640" height="360" ' +
    'allow="autoplay; fullscreen" allowfullscreen style="border:0"></iframe>';

  function setState(state, message) {
    status.state = state;
    status.message = message || '';
    const b = $('state');
    b.textContent = state;
    b.className = 'badge ' + state;
    overlay.textContent = message || (state === 'connecting' ? 'connecting…' : '');
    overlay.hidden = state === 'playing';
  }

  function frame() {
    const now = performance.now();
    lastFrame = now;
    status.frames++;
    if (status.state !== 'playing') {
      if (status.firstFrameMs === null) status.firstFrameMs = Math.round(now);
      setState('playing');
    }
  }

  const loaded = {};
  function load(file) {
    loaded[file] ||= new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = '/assets/vendor/' + file;
      s.onload = resolve;
      s.onerror = () => { delete loaded[file]; reject(new Error('cannot load ' + file)); };
      document.head.append(s);
    });
    return loaded[file];
  }

  // choose returns {kind, codec}: kind is "jsmpeg", "mpegts", "" for a
  // codec no browser player plays, or null when the stream is not ready.
  function choose(info) {
    if (!info || !info.live) return null;
    if (info.format === 'raw') return { kind: '', codec: 'raw bytes' };
    const t = info.ts;
    if (!t) return null;
    const es = t.programs.flatMap((p) => p.streams);
    const hasVideo = es.some((s) => s.kind === 'video');
    if (hasVideo && !t.video) return null; // wait for the first keyframe: it tells MPEG-1 from MPEG-2
    const audio = es.filter((s) => s.kind === 'audio').map((s) => s.codec);
    const video = t.video ? t.video.codec : '';
    if (video === 'mpeg1video') return { kind: 'jsmpeg', codec: video };
    if (video === 'h264') return { kind: 'mpegts', codec: video };
    if (video === 'h265') {
      // Media Source Extensions decode H.265 only where the platform does.
      const ok = window.MediaSource && MediaSource.isTypeSupported('video/mp4; codecs="hvc1.1.6.L93.B0"');
      return { kind: ok ? 'mpegts' : '', codec: ok ? video : 'h265 (this browser cannot decode it)' };
    }
    if (!video && audio.includes('mp2')) return { kind: 'jsmpeg', codec: 'mp2' };
    if (!video && audio.includes('aac')) return { kind: 'mpegts', codec: 'aac' };
    if (!video && !audio.length) return null;
    return { kind: '', codec: video || audio.join(', ') };
  }

  async function startJSMpeg(fps) {
    await load('jsmpeg/jsmpeg-player.umd.min.js');
    // A fresh canvas each time: a destroyed WebGL player loses its context
    // for good.
    const canvas = document.createElement('canvas');
    stage.prepend(canvas);
    const p = new window.JSMpeg.Player(wsBase + '/ws/' + enc + tokenQuery, {
      // Audio only once unmuted: browsers refuse an AudioContext before a
      // click, and the page starts muted.
      canvas, autoplay: true, audio: !muted, volume: 1, reconnectInterval: 0,
      pauseWhenHidden: false, preserveDrawingBuffer: true, disableGl: q.get('gl') === '0',
      videoBufferSize: 2 << 20, onVideoDecode: () => { decoded++; frame(); },
      onAudioDecode: () => { if (!p.video) frame(); },
    });
    // The buffer shown is the frames received (one video PES each) but not
    // yet decoded, at the stream's frame rate.
    let bytes = 0, received = 0, decoded = 0;
    if (p.video) {
      const vw = p.video.write.bind(p.video);
      p.video.write = (pts, bufs) => { received++; vw(pts, bufs); };
    }
    const write = p.demuxer.write.bind(p.demuxer);
    p.demuxer.write = (b) => { bytes += b.byteLength; status.bytes += b.byteLength; write(b); };
    return {
      kind: 'jsmpeg',
      destroy() { p.destroy(); canvas.remove(); },
      // setMuted returns true when the player must start again to change.
      setMuted(m) {
        if (!p.audioOut) return !m;
        p.volume = m ? 0 : 1;
        if (!m && p.audioOut.unlock) p.audioOut.unlock(() => {});
        return false;
      },
      buffer() { return Math.max(0, received - decoded) / fps; },
      bytes() { return bytes; },
    };
  }

  async function startMpegts() {
    await load('mpegts/mpegts.js');
    const m = window.mpegts;
    if (!m.isSupported()) throw new Error('this browser has no Media Source Extensions: use VLC or ffplay with /live/' + name + '.ts');
    const video = document.createElement('video');
    video.muted = muted;
    video.playsInline = true;
    video.autoplay = true;
    stage.prepend(video);
    const url = (transport === 'http' ? location.origin + '/live/' + enc + '.ts' : wsBase + '/ws/' + enc) + tokenQuery;
    const p = m.createPlayer({ type: 'mpegts', isLive: true, url }, {
      enableWorker: false, enableStashBuffer: false, lazyLoad: false, autoCleanupSourceBuffer: true,
      liveBufferLatencyChasing: true, liveBufferLatencyMaxLatency: 1.5, liveBufferLatencyMinRemain: 0.3,
      liveSync: true,
    });
    p.on(m.Events.ERROR, (type, detail) => restart('player error: ' + type + ' ' + detail));
    let kbps = 0, lastTime = -1;
    p.on(m.Events.STATISTICS_INFO, (s) => { kbps = s.speed || 0; });
    video.addEventListener('timeupdate', () => {
      if (video.currentTime > lastTime) { lastTime = video.currentTime; frame(); }
    });
    p.attachMediaElement(video);
    p.load();
    video.play().catch(() => {});
    return {
      kind: 'mpegts',
      destroy() {
        try { p.pause(); p.unload(); p.detachMediaElement(); p.destroy(); } catch (e) { /* already torn down */ }
        video.remove();
      },
      setMuted(mu) { video.muted = mu; return false; },
      buffer() {
        const b = video.buffered;
        return b.length ? Math.max(0, b.end(b.length - 1) - video.currentTime) : 0;
      },
      rate() { return kbps * 1024 * 8; },
    };
  }

  async function connect() {
    const gen = ++generation;
    let info = null, offline = 'stream offline: nobody publishes "' + name + '"';
    try {
      info = await ts.getJSON('/api/v1/streams/' + enc + tokenQuery);
    } catch (e) {
      if (e.status !== 404) offline = 'cannot reach the server: ' + e.message;
    }
    if (gen !== generation) return;
    const c = choose(info);
    if (!c) {
      setState(info && info.live ? 'connecting' : 'offline', info && info.live ? 'waiting for the first keyframe…' : offline);
      setTimeout(() => { if (gen === generation) connect(); }, offlinePollMs);
      return;
    }
    status.codec = c.codec;
    if (!c.kind) {
      setState('offline', 'no browser player for ' + c.codec + ': play http://' + location.host + '/live/' + name + '.ts in VLC or ffplay');
      setTimeout(() => { if (gen === generation) connect(); }, 5 * offlinePollMs);
      return;
    }
    setState('connecting');
    startedAt = performance.now();
    lastFrame = 0;
    try {
      const fps = (info.ts && info.ts.video && info.ts.video.frame_rate) || 25;
      const p = c.kind === 'jsmpeg' ? await startJSMpeg(fps) : await startMpegts();
      if (gen !== generation) { p.destroy(); return; }
      current = p;
      lastBytes = 0;
      status.player = p.kind;
      $('player').textContent = (p.kind === 'jsmpeg' ? 'JSMpeg' : 'mpegts.js') + ' · ' + c.codec;
    } catch (e) {
      restart(e.message);
    }
  }

  function restart(why) {
    if (current) current.destroy();
    current = null;
    status.restarts++;
    setState('connecting', 'reconnecting: ' + why);
    const gen = ++generation;
    setTimeout(() => { if (gen === generation) connect(); }, 300);
  }

  // Once a second: the buffer and bitrate shown.
  let lastBytes = 0, lastTick = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (current) {
      let rate;
      if (current.rate) rate = current.rate();
      else { const b = current.bytes(); rate = (b - lastBytes) * 8000 / (now - lastTick); lastBytes = b; }
      status.bitrate = Math.round(rate);
      status.buffer = current.buffer();
      $('latency').textContent = 'buffer ' + status.buffer.toFixed(2) + ' s';
      $('bitrate').textContent = ts.bits(rate);
    } else {
      lastBytes = 0;
      $('latency').textContent = 'buffer –';
      $('bitrate').textContent = '– kb/s';
    }
    lastTick = now;
  }, 1000);
  // The watchdog starts the player again when the picture stands still.
  setInterval(() => {
    if (!current) return;
    const now = performance.now();
    if (lastFrame === 0 && now - startedAt > startMs) restart('no picture after ' + startMs / 1000 + ' s');
    else if (lastFrame > 0 && now - lastFrame > stallMs) restart('no picture for ' + stallMs / 1000 + ' s');
  }, 250);

  $('mute').addEventListener('click', () => {
    muted = !muted;
    $('mute').textContent = muted ? 'Unmute' : 'Mute';
    if (current && current.setMuted(muted)) restart(muted ? 'muting' : 'turning the sound on');
  });
  $('fullscreen').addEventListener('click', () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else stage.requestFullscreen().catch(() => {});
  });

  connect();
})();
