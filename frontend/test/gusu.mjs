// Test helpers: a real gusu (its own PostGIS under a temp data dir) and a
// real Chromium (Debian's, driven by playwright-core).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const artifacts = process.env.GUSU_ARTIFACTS || new URL('../../.artifacts/browser/', import.meta.url).pathname;
mkdirSync(artifacts, { recursive: true });

// startGusu runs the gusu binary (GUSU_BIN) with a fresh data dir and
// resolves with its base URL once it serves.
export async function startGusu(extraArgs = []) {
  const bin = process.env.GUSU_BIN;
  if (!bin) throw new Error('set GUSU_BIN to a built gusu binary (scripts/test.sh does)');
  const dir = mkdtempSync('/tmp/gusu-browser-');
  chmodSync(dir, 0o755);
  const proc = spawn(bin, ['serve', '--addr', '127.0.0.1:0', '--data-dir', join(dir, 'var'), '--log-format', 'json', ...extraArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('gusu did not start within 120 s:\n' + log)), 120000);
    proc.stderr.on('data', (d) => {
      log += d;
      for (const line of String(d).split('\n')) {
        try {
          const m = JSON.parse(line);
          if (m.msg === 'gusu is serving') { clearTimeout(timer); resolve(m.url.replace(/\/$/, '')); }
        } catch { /* not a JSON line */ }
      }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`gusu exited with ${code}:\n${log}`)); });
  });
  return {
    url,
    log: () => log,
    // run runs another gusu command against this server's cluster
    // (positional arguments last: Go's flags stop at the first).
    run(args, positional = []) {
      const r = spawnSync(bin, [...args, '--data-dir', join(dir, 'var'), ...positional], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`gusu ${args.join(' ')} failed: ${r.stderr}`);
      return r.stdout;
    },
    dir,
    // createToken runs `gusu token create` against this server's cluster.
    createToken(name, role) {
      const r = spawnSync(bin, ['token', 'create', '--name', name, '--role', role, '--data-dir', join(dir, 'var')], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error('gusu token create failed: ' + r.stderr);
      return r.stdout.trim();
    },
    async stop() {
      proc.removeAllListeners('exit');
      const exited = new Promise((r) => proc.on('exit', r));
      proc.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-unsafe-swiftshader'],
  });
}

// watchConsole collects console errors and uncaught exceptions. SwiftShader's
// GL performance notes are warnings from the software renderer, not the page.
export function watchConsole(page) {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push('uncaught: ' + e.message));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`); });
  return errors;
}

export async function waitForMap(pageOrFrame) {
  await pageOrFrame.waitForFunction(() => window.gusuMap && window.gusuMap.loaded() && window.gusuMap.areTilesLoaded() && !window.gusuMap.isMoving(), null, { timeout: 60000 });
  // One more frame so that what is loaded is also drawn.
  await pageOrFrame.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

// pixel returns [r, g, b] at page coordinates in a screenshot, decoded by
// the browser itself so no PNG library is needed.
export async function pixel(page, png, x, y) {
  const b64 = png.toString('base64');
  return page.evaluate(async ({ b64, x, y }) => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    return Array.from(ctx.getImageData(Math.round(x), Math.round(y), 1, 1).data.slice(0, 3));
  }, { b64, x, y });
}

// screenPoint is where [lon, lat] is drawn, in page coordinates.
export async function screenPoint(page, lonlat) {
  return page.evaluate((ll) => {
    const p = window.gusuMap.project(ll);
    const r = window.gusuMap.getContainer().getBoundingClientRect();
    return { x: r.left + p.x, y: r.top + p.y };
  }, lonlat);
}

export function saveText(name, text) {
  writeFileSync(join(artifacts, name), text);
}
