// Drives headless Chromium (playwright-core, from web/node_modules) through
// one scenario against a running tsstream, for e2e/browser_test.go.
//
//   node run.js SCENARIO URL SCREENSHOT.png
//
// It prints one JSON object per line: results, or {"error": "..."}. The
// "recover" scenario also reads lines from stdin: the test says when it
// has stopped and restarted the publisher.
'use strict';

const path = require('path');
const fs = require('fs');
const os = require('os');
const readline = require('readline');
const { chromium } = require(path.join(__dirname, '..', '..', 'web', 'node_modules', 'playwright-core'));

const [scenario, url, shot] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const lines = readline.createInterface({ input: process.stdin });
const pending = [];
const waiting = [];
lines.on('line', (l) => (waiting.length ? waiting.shift()(l) : pending.push(l)));
const nextLine = () => new Promise((resolve) => (pending.length ? resolve(pending.shift()) : waiting.push(resolve)));

// sample draws the player's picture (canvas or video) into a small 2D
// canvas and returns its pixels' spread and a fingerprint of them.
async function sample(page) {
  return page.evaluate(() => {
    const src = document.querySelector('#stage canvas, #stage video');
    if (!src) return null;
    const c = document.createElement('canvas');
    c.width = 64; c.height = 36;
    const g = c.getContext('2d');
    try { g.drawImage(src, 0, 0, 64, 36); } catch (e) { return { error: String(e) }; }
    const d = g.getImageData(0, 0, 64, 36).data;
    let min = 255, max = 0, sum = 0;
    const lum = [];
    for (let i = 0; i < d.length; i += 4) {
      const y = (d[i] * 299 + d[i + 1] * 587 + d[i + 2] * 114) / 1000;
      lum.push(Math.round(y));
      min = Math.min(min, y); max = Math.max(max, y); sum += y;
    }
    return { min: Math.round(min), max: Math.round(max), mean: Math.round(sum / lum.length), lum };
  });
}

const nonBlank = (s) => !!s && s.lum !== undefined && s.max - s.min > 40;
const differing = (a, b) => a.lum.filter((v, i) => Math.abs(v - b.lum[i]) > 16).length;
const brief = (s) => s && { min: s.min, max: s.max, mean: s.mean };
const state = (page) => page.evaluate(() => window.tsplayer && { ...window.tsplayer });

// untilPicture polls every 50 ms until the player shows a non-blank
// picture, and returns the sample and when it came.
async function untilPicture(page, t0, limitMs) {
  for (;;) {
    const s = await sample(page);
    if (nonBlank(s)) return { s, ms: Date.now() - t0 };
    if (Date.now() - t0 > limitMs) return { s, ms: -1 };
    await page.waitForTimeout(50);
  }
}

// play: load the page, wait for a picture, then check that it changes.
async function play(page) {
  const t0 = Date.now();
  await page.goto(url, { waitUntil: 'load' });
  const first = await untilPicture(page, t0, 15000);
  if (first.ms < 0) return { error: 'no picture within 15 s', sample: brief(first.s), player: await state(page) };
  const v1 = await page.evaluate(() => { const v = document.querySelector('#stage video'); return v ? v.currentTime : null; });
  await page.waitForTimeout(1000);
  const second = await sample(page);
  const v2 = await page.evaluate(() => { const v = document.querySelector('#stage video'); return v ? v.currentTime : null; });
  await page.screenshot({ path: shot });
  return {
    picture_ms: first.ms, first: brief(first.s), second: brief(second), non_blank: nonBlank(first.s) && nonBlank(second),
    changed_pixels: differing(first.s, second), video_time: [v1, v2], player: await state(page),
  };
}

// recover: play, then wait for the test to stop the publisher, report when
// the page noticed, and time the recovery after the test restarted it.
async function recover(page) {
  const p = await play(page);
  out(p);
  if (p.error) return null;
  await nextLine(); // the publisher is gone
  const t0 = Date.now();
  let st;
  do {
    await page.waitForTimeout(100);
    st = await state(page);
  } while (st.state === 'playing' && Date.now() - t0 < 15000);
  out({ noticed_ms: Date.now() - t0, player: st });
  await nextLine(); // the publisher is back
  const t1 = Date.now();
  const before = await sample(page);
  const frames = (await state(page)).frames;
  for (;;) {
    st = await state(page);
    const s = await sample(page);
    if (st.state === 'playing' && st.frames > frames && nonBlank(s) && (!before || !before.lum || differing(before, s) > 0)) {
      await page.screenshot({ path: shot });
      return { recover_ms: Date.now() - t1, player: st, sample: brief(s) };
    }
    if (Date.now() - t1 > 20000) return { error: 'not playing again within 20 s', player: st, sample: brief(s) };
    await page.waitForTimeout(50);
  }
}

// dashboard: wait for the stream's card with its codec and a bitrate.
async function dashboard(page) {
  await page.goto(url, { waitUntil: 'load' });
  const card = page.locator('article.stream').first();
  await card.waitFor({ timeout: 15000 });
  let got;
  for (let i = 0; i < 100; i++) {
    got = await page.evaluate(() => [...document.querySelectorAll('article.stream')].map((a) => ({
      stream: a.dataset.stream, state: a.querySelector('.badge').textContent,
      codecs: a.querySelector('.codecs').textContent, bitrate: a.querySelector('.bitrate').textContent,
    })));
    if (got.length && got[0].bitrate !== '0 b/s' && got[0].codecs !== '–') break;
    await page.waitForTimeout(200);
  }
  await page.waitForTimeout(4000); // a few points of sparkline
  await page.screenshot({ path: shot, fullPage: true });
  return { streams: got };
}

// cluster: wait for the relay tree to show its nodes and links.
async function cluster(page) {
  await page.goto(url, { waitUntil: 'load' });
  let got;
  for (let i = 0; i < 100; i++) {
    got = await page.evaluate(() => ({
      nodes: [...document.querySelectorAll('#cluster-tree g.node')].map((g) => ({ name: g.dataset.node, class: g.getAttribute('class') })),
      edges: [...document.querySelectorAll('#cluster-tree path.edge')].length,
      labels: [...document.querySelectorAll('#cluster-tree text.edge-label')].map((t) => t.textContent),
    }));
    if (got.nodes.length >= 2 && got.edges >= 1 && got.labels.some((l) => !l.endsWith(' 0 b/s'))) break;
    await page.waitForTimeout(200);
  }
  await page.screenshot({ path: shot, fullPage: true });
  return got;
}

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsstream-chromium-'));
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(dir, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
      viewport: { width: 1100, height: 760 },
    });
    const page = ctx.pages()[0] || await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const run = { play, recover, dashboard, cluster }[scenario];
    if (!run) throw new Error('unknown scenario ' + scenario);
    const res = await run(page);
    if (res) out({ ...res, page_errors: errors });
  } catch (e) {
    out({ error: String(e && e.stack || e) });
  } finally {
    if (ctx) await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
    lines.close();
  }
})();
