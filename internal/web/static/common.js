// Helpers shared by tsstream's pages: formatting and copy buttons.
'use strict';

window.ts = (() => {
  function bits(n) {
    if (!(n > 0)) return '0 b/s';
    const u = ['b/s', 'kb/s', 'Mb/s', 'Gb/s'];
    let i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return (n >= 100 || i === 0 ? n.toFixed(0) : n.toFixed(1)) + ' ' + u[i];
  }
  function bytes(n) {
    if (!(n > 0)) return '0 B';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (n >= 100 || i === 0 ? n.toFixed(0) : n.toFixed(1)) + ' ' + u[i];
  }
  function duration(s) {
    if (!(s >= 0)) return '–';
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    if (m > 0) return m + 'm ' + (s % 60) + 's';
    return s + 's';
  }
  // el builds an element: el('td', {class: 'x'}, 'text', child…).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  // copy puts text on the clipboard; without clipboard access (plain http on
  // another host) it selects the text for the user to copy.
  async function copy(text, node) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (e) {
      if (node) {
        const r = document.createRange();
        r.selectNodeContents(node);
        const s = getSelection();
        s.removeAllRanges();
        s.addRange(r);
      }
      return false;
    }
  }
  document.addEventListener('click', async (ev) => {
    const b = ev.target.closest('button[data-copy]');
    if (!b) return;
    const node = document.getElementById(b.dataset.copy);
    const ok = await copy(node.textContent, node);
    const old = b.textContent;
    b.textContent = ok ? 'Copied' : 'Select + copy';
    setTimeout(() => { b.textContent = old; }, 1200);
  });
  // hostPort is the host of this page with the port of a listener address
  // such as "[::]:50001" or "127.0.0.1:8088".
  function hostPort(addr) {
    const port = addr.slice(addr.lastIndexOf(':') + 1);
    const h = location.hostname.includes(':') ? '[' + location.hostname + ']' : location.hostname;
    return h + ':' + port;
  }
  async function getJSON(url) {
    const r = await fetch(url, { cache: 'no-store' });
    if (!r.ok) {
      let msg = r.status + ' ' + r.statusText;
      try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
      const err = new Error(msg);
      err.status = r.status;
      throw err;
    }
    return r.json();
  }
  return { bits, bytes, duration, el, copy, hostPort, getJSON };
})();
