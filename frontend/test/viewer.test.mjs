// Browser tests of the viewer, the style and the embed page, in Debian's
// Chromium against a real gusu with its bundled Suzhou data.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { startGusu, launchBrowser, watchConsole, waitForMap, pixel, screenPoint, artifacts, saveText } from './gusu.mjs';

let gusu, browser;
before(async () => {
  gusu = await startGusu();
  browser = await launchBrowser();
});
after(async () => {
  if (browser) await browser.close();
  if (gusu) await gusu.stop();
});

// A point inside Taihu, in Suzhou's part of the lake, and one on land.
const TAIHU = [120.22, 31.18];

const greenish = ([r, g, b]) => g > r + 25 && g > b + 25;

async function openViewer(hash = '#9.2/31.25/120.45') {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = watchConsole(page);
  await page.goto(gusu.url + '/' + hash);
  await waitForMap(page);
  return { page, errors };
}

test('the viewer loads with no console errors and draws the red line over Taihu', async () => {
  const { page, errors } = await openViewer();
  // What a first visit transfers (compressed), for the README's figure.
  const bytes = await page.evaluate(() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
    .reduce((n, e) => n + (e.transferSize || 0), 0));
  saveText('first-load-bytes.txt', `${bytes}\n`);
  console.log(`# first load transferred ${(bytes / 1024).toFixed(0)} KiB (page, scripts, style, tiles)`);
  assert.ok(bytes < 2 * 1024 * 1024, `first load transferred ${bytes} bytes`);
  const png = await page.screenshot({ path: join(artifacts, 'viewer.png') });
  const p = await screenPoint(page, TAIHU);
  const c = await pixel(page, png, p.x, p.y);
  assert.ok(greenish(c), `pixel over Taihu is rgb(${c}), expected the red-line area fill (green)`);
  const labels = await page.evaluate(() => window.gusuMap.queryRenderedFeatures({ layers: ['town_system-label-units'] }).length);
  assert.ok(labels > 0, 'no county-level labels are drawn');
  // The basemap's water is on by default, and the panel says where context is thin.
  const water = await page.evaluate(() => window.gusuMap.queryRenderedFeatures({ layers: ['basemap_water-shore', 'basemap_water-rivers'] }).length);
  assert.ok(water > 0, 'no basemap water is drawn');
  assert.match(await page.locator('#layers').innerText(), /底图[\s\S]*水系[\s\S]*1:100 万/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('rail lines are drawn where they are', async () => {
  const { page, errors } = await openViewer('#9/31.35/120.75');
  // A vertex of a high-speed line inside the view, from the features API.
  const fc = await (await fetch(gusu.url + '/api/layers/rail_lines/features?bbox=120.5,31.2,121.0,31.5')).json();
  const hsr = fc.features.find((f) => f.properties.kind === 'high_speed');
  assert.ok(hsr, 'no high-speed line in the view');
  const coords = hsr.geometry.type === 'MultiLineString' ? hsr.geometry.coordinates.flat() : hsr.geometry.coordinates;
  const inView = coords.filter(([x, y]) => x > 120.55 && x < 120.95 && y > 31.25 && y < 31.45);
  assert.ok(inView.length > 0);
  const png = await page.screenshot({ path: join(artifacts, 'rail.png') });
  let hits = 0;
  for (const v of inView.slice(0, 10)) {
    const p = await screenPoint(page, v);
    // Purple (high-speed) within two pixels of the vertex.
    for (const [dx, dy] of [[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1], [2, 0], [0, 2], [-2, 0], [0, -2]]) {
      const [r, g, b] = await pixel(page, png, p.x + dx, p.y + dy);
      if (b > g + 40 && r > g + 20) { hits++; break; }
    }
  }
  assert.ok(hits >= Math.min(3, inView.length), `only ${hits} of ${Math.min(10, inView.length)} high-speed vertices show the line colour`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('unticking a layer hides it', async () => {
  const { page, errors } = await openViewer();
  const p = await screenPoint(page, TAIHU);
  await page.getByLabel(/生态保护红线/).uncheck();
  await waitForMap(page);
  const png = await page.screenshot({ path: join(artifacts, 'redlines-off.png') });
  const c = await pixel(page, png, p.x, p.y);
  assert.ok(!greenish(c), `red lines still drawn over Taihu (rgb(${c})) after unticking them`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('clicking a town opens its popup, in Chinese and then English', async () => {
  const fc = await (await fetch(gusu.url + '/api/layers/town_system/features?limit=200')).json();
  const town = fc.features.find((f) => f.properties.name_en === 'Zhouzhuang');
  assert.ok(town, 'Zhouzhuang is not in the town system');
  const [lon, lat] = town.geometry.coordinates;
  const { page, errors } = await openViewer(`#12/${lat}/${lon}`);
  const p = await screenPoint(page, [lon, lat]);
  await page.mouse.click(p.x, p.y);
  const popup = page.locator('.maplibregl-popup-content');
  await popup.waitFor({ timeout: 10000 });
  const text = await popup.innerText();
  assert.match(text, /周庄/);
  assert.match(text, /镇\/街道/);
  await page.screenshot({ path: join(artifacts, 'popup.png') });
  await page.getByRole('button', { name: 'Switch language' }).click();
  assert.match(await popup.innerText(), /Town\/subdistrict/);
  assert.match(await page.locator('#panel').innerText(), /Ecological red lines/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the embed page works inside an iframe', async () => {
  const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
  const errors = watchConsole(page);
  const src = `${gusu.url}/embed?layers=eco_redlines,rail_lines&center=120.3,31.2&zoom=9`;
  await page.setContent(`<html><body style="margin:0"><h1 style="font:16px sans-serif">Bureau page</h1><iframe src="${src}" width="800" height="450" style="border:0"></iframe></body></html>`);
  const frame = page.frames().find((f) => f.url().startsWith(gusu.url + '/embed'));
  assert.ok(frame, 'iframe did not load the embed page');
  await waitForMap(frame);
  const layers = await frame.evaluate(() => [...new Set(window.gusuMap.getStyle().layers.map((l) => l['source-layer']).filter(Boolean))].sort());
  assert.deepEqual(layers, ['eco_redlines', 'rail_lines']);
  const drawn = await frame.evaluate(() => window.gusuMap.queryRenderedFeatures().filter((f) => f.sourceLayer === 'eco_redlines').length);
  assert.ok(drawn > 0, 'no red-line features drawn in the embedded map');
  await page.screenshot({ path: join(artifacts, 'embed.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('the style loads in a plain MapLibre map on another page', async () => {
  const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
  const errors = watchConsole(page);
  // The page a web developer would write, served from another origin (a
  // second loopback port): MapLibre from gusu's assets, gusu's style URL.
  const html = `<!doctype html>
    <link rel="stylesheet" href="${gusu.url}/assets/vendor/maplibre-gl.css">
    <div id="m" style="position:absolute;inset:0"></div>
    <script type="module">
      import * as maplibregl from '${gusu.url}/assets/vendor/maplibre-gl.mjs';
      window.gusuMap = new maplibregl.Map({ container: 'm', style: '${gusu.url}/styles/gusu.json', center: [120.6, 31.3], zoom: 8 });
    </script>`;
  const site = createServer((req, res) => { res.setHeader('Content-Type', 'text/html'); res.end(html); });
  await new Promise((r) => site.listen(0, '127.0.0.1', r));
  after(() => site.close());
  await page.goto(`http://127.0.0.1:${site.address().port}/map.html`);
  try {
    await waitForMap(page);
  } catch (err) {
    throw new Error(`${err.message}; console: ${JSON.stringify(errors)}`);
  }
  const n = await page.evaluate(() => window.gusuMap.queryRenderedFeatures().length);
  assert.ok(n > 50, `only ${n} features rendered`);
  await page.screenshot({ path: join(artifacts, 'plain-maplibre.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('the isochrone tool draws three bands from a station, lists the towns and offers the GeoJSON', async () => {
  const { page, errors } = await openViewer('#9/31.35/120.75');
  await page.locator('#iso summary').click();
  await page.locator('#iso-origin option[value="station:苏州"]').waitFor({ state: 'attached', timeout: 20000 });
  await page.locator('#iso-origin').selectOption('station:苏州');
  await page.locator('#iso-submit').click();
  await page.locator('#iso-download').waitFor({ timeout: 30000 });
  await waitForMap(page);
  const bands = await page.evaluate(() => window.gusuMap.getSource('isochrones').serialize().data.features.map((f) => f.properties.minutes));
  assert.deepEqual(bands, [45, 30, 15]);
  const drawn = await page.evaluate(() => window.gusuMap.queryRenderedFeatures({ layers: ['isochrones-fill'] }).length);
  assert.ok(drawn > 0, 'no band is drawn');
  const report = await page.locator('#iso-report').innerText();
  assert.match(report, /off-network estimate/);
  assert.match(report, /姑苏区/);
  assert.match(await page.locator('#iso-legend').innerText(), /≤ 15/);
  await page.screenshot({ path: join(artifacts, 'isochrones.png') });
  // Clicking the map picks a new origin and recomputes.
  await page.locator('#iso-origin').selectOption('');
  const p = await screenPoint(page, [120.62, 31.30]);
  await page.mouse.click(p.x, p.y);
  await page.locator('#iso-picked').filter({ hasText: '120.6' }).waitFor({ timeout: 20000 });
  // The click lands within a pixel of the point (its longitude printed to 4 decimals).
  const lon = Number((await page.locator('#iso-picked').innerText()).match(/120\.\d+/)[0]);
  assert.ok(Math.abs(lon - 120.62) < 0.001, `picked ${lon}`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('transit on a timetable: the departure, window and percentile go with the request, in the isochrone and life-circle tools', async () => {
  const { page, errors } = await openViewer('#10/31.30/120.62');
  await page.locator('#iso summary').click();
  await page.locator('#iso-mode').selectOption('walk');
  assert.equal(await page.locator('#iso-tt').isVisible(), false, 'timetable fields shown for walking');
  await page.locator('#iso-mode').selectOption('transit');
  await page.locator('#iso-departure').fill('2026-12-01T08:00');
  await page.locator('#iso-window').fill('30');
  await page.locator('#iso-percentile').fill('50');
  await page.locator('#iso-origin option[value="station:苏州"]').waitFor({ state: 'attached', timeout: 20000 });
  await page.locator('#iso-origin').selectOption('station:苏州');
  const [req] = await Promise.all([
    page.waitForRequest((r) => r.url().includes('/api/isochrones')),
    page.locator('#iso-submit').click(),
  ]);
  const q = new URL(req.url()).searchParams;
  assert.deepEqual([q.get('departure'), q.get('window'), q.get('percentile')], ['2026-12-01T08:00', '30', '50']);
  await page.locator('#iso-download').waitFor({ timeout: 30000 });
  const report = await page.locator('#iso-report').innerText();
  assert.match(report, /timetable · 2026-12-01T08:00 \+30′ p50/);
  assert.match(report, /rail model/);
  const bands = await page.evaluate(() => window.gusuMap.getSource('isochrones').serialize().data.features.map((f) => f.properties.minutes));
  assert.deepEqual(bands, [45, 30, 15]);

  await page.locator('#lc summary').click();
  await page.locator('#lc-origins option[value="rail_stations"]').waitFor({ state: 'attached', timeout: 20000 });
  await page.locator('#lc-mode').selectOption('transit');
  await page.locator('#lc-minutes').fill('30,45');
  await page.locator('#lc-departure').fill('2026-12-01T08:00');
  const [lreq] = await Promise.all([
    page.waitForRequest((r) => r.url().includes('/api/catchments') && r.method() === 'POST'),
    page.locator('#lc-submit').click(),
  ]);
  const body = JSON.parse(lreq.postData());
  assert.equal(body.departure, '2026-12-01T08:00');
  assert.equal(body.split, 'none');
  await page.locator('#lc-csv').waitFor({ timeout: 60000 });
  assert.match(await page.locator('#lc-report .tt-note').innerText(), /2026-12-01T08:00/);
  assert.ok(await page.locator('table.lc-cov tr').count() >= 3, 'no coverage rows');
  await page.screenshot({ path: join(artifacts, 'timetable-tools.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('the indicators panel shows the plan indicators with caveats, and clicking one highlights what it counts', async () => {
  const { page, errors } = await openViewer('#8.3/31.38/120.75');
  await page.locator('#ind summary').click();
  const list = page.locator('#ind-list');
  await list.locator('button.indicator').first().waitFor({ timeout: 30000 });
  assert.equal(await list.locator('button.indicator').count(), 4);
  const text = await list.innerText();
  assert.match(text, /生态保护红线区域占国土面积比例/);
  assert.match(text, /22\.37%/);
  assert.match(text, /353 km/);
  assert.match(text, /⚠/);
  // Caveats in the interface's language.
  assert.match(text, /生态保护红线为临时数据/);
  assert.doesNotMatch(text, /the red lines are provisional/);
  await list.locator('button[data-id="rail_length"]').click();
  await waitForMap(page);
  const hits = await page.evaluate(() => window.gusuMap.queryRenderedFeatures({ layers: ['ind-highlight-line'] }).length);
  assert.ok(hits > 0, 'nothing highlighted for rail length');
  await page.screenshot({ path: join(artifacts, 'indicators.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('the status line follows the language, and picking an isochrone origin opens no popup', async () => {
  const fc = await (await fetch(gusu.url + '/api/layers/town_system/features?limit=200')).json();
  const town = fc.features.find((f) => f.properties.name_en === 'Zhouzhuang');
  const [lon, lat] = town.geometry.coordinates;
  const { page, errors } = await openViewer(`#12/${lat}/${lon}`);
  await page.locator('#status').filter({ hasText: '已加载' }).waitFor({ timeout: 20000 });
  await page.getByRole('button', { name: 'Switch language' }).click();
  assert.match(await page.locator('#status').innerText(), /layers loaded/, 'the English status line stays on Loading…');
  await page.getByRole('button', { name: /切换语言|Switch language|中文/ }).click();
  // Picking mode: a click on a town picks the origin, and no popup opens.
  await page.locator('#iso summary').click();
  const p = await screenPoint(page, [lon, lat]);
  await page.mouse.move(p.x, p.y); // hovering a town must not take the crosshair away
  assert.equal(await page.evaluate(() => window.gusuMap.getCanvas().style.cursor), 'crosshair');
  await page.mouse.click(p.x, p.y);
  await page.locator('#iso-picked').filter({ hasText: String(lon).slice(0, 6) }).waitFor({ timeout: 20000 });
  assert.equal(await page.locator('.maplibregl-popup').count(), 0, 'a feature popup opened over the isochrone origin');
  // Choosing a station replaces the clicked origin and its coordinates.
  await page.locator('#iso-origin option[value="station:苏州"]').waitFor({ state: 'attached', timeout: 20000 });
  await page.locator('#iso-origin').selectOption('station:苏州');
  assert.equal((await page.locator('#iso-picked').innerText()).trim(), '', 'the clicked origin is still shown');
  assert.deepEqual(errors, []);
  await page.close();
});

test('in English the map labels are drawn from gusu\'s own Latin glyphs, with no request leaving gusu', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = watchConsole(page);
  const elsewhere = [];
  // The network is gusu's origin only: anything else is refused.
  await page.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith(gusu.url) || u.startsWith('data:') || u.startsWith('blob:')) return route.continue();
    elsewhere.push(u);
    return route.abort();
  });
  const glyphs = [];
  page.on('response', async (r) => { if (r.url().includes('/fonts/')) glyphs.push({ url: r.url(), bytes: (await r.body()).length }); });
  await page.goto(gusu.url + '/#11/31.30/120.62');
  await waitForMap(page);
  await page.getByRole('button', { name: 'Switch language' }).click();
  await waitForMap(page);
  await page.waitForFunction(() => window.gusuMap.queryRenderedFeatures({ layers: ['rail_stations-label', 'town_system-label-towns'] }).length > 0, null, { timeout: 20000 });
  const names = await page.evaluate(() => window.gusuMap.queryRenderedFeatures({ layers: ['rail_stations-label', 'town_system-label-towns'] })
    .map((f) => f.properties.name_en).filter((n) => n && /^[A-Za-z]/.test(n)));
  assert.ok(names.length >= 5, `few Latin labels drawn: ${names}`);
  const latin = glyphs.find((g) => /\/0-255\.pbf$/.test(g.url));
  assert.ok(latin && latin.bytes > 10000, `the Latin glyph range did not come from gusu: ${JSON.stringify(glyphs)}`);
  await page.screenshot({ path: join(artifacts, 'labels-en.png') });
  assert.deepEqual(elsewhere, [], 'requests left gusu');
  assert.deepEqual(errors, []);
  await page.close();
});

test('the metro legend lists every line in the colour the map draws it', async () => {
  const { page, errors } = await openViewer('#10/31.30/120.62');
  await page.locator('.metro-lines li').first().waitFor({ timeout: 20000 });
  const items = await page.evaluate(() => [...document.querySelectorAll('.metro-lines li')].map((li) => ({
    name: li.textContent.trim(), color: getComputedStyle(li.querySelector('.swatch')).backgroundColor })));
  assert.ok(items.length >= 9, `${items.length} metro lines in the legend`);
  const fc = await (await fetch(gusu.url + '/api/layers/rail_lines/features?limit=10000')).json();
  const hex = (c) => { const [r, g, b] = c.match(/\d+/g).map(Number); return '#' + [r, g, b].map((v) => v.toString(16).padStart(2, '0')).join(''); };
  for (const it of items) {
    const line = fc.features.find((f) => f.properties.name === it.name.split(' ')[0]);
    assert.ok(line, `legend line ${it.name} is not in the data`);
    assert.equal(hex(it.color), line.properties.color.toLowerCase(), `${it.name}'s swatch`);
  }
  await page.locator('#panel').screenshot({ path: join(artifacts, 'legend.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('in a whole-city view each district and county-level city is named once', async () => {
  const { page, errors } = await openViewer('#8.6/31.35/120.65');
  await page.waitForFunction(() => window.gusuMap.queryRenderedFeatures({ layers: ['town_system-label-units'] }).length > 5, null, { timeout: 20000 });
  const names = await page.evaluate(() => window.gusuMap.queryRenderedFeatures({ layers: ['town_system-label-units'] }).map((f) => f.properties.name_zh));
  const counts = {};
  for (const n of names) counts[n] = (counts[n] || 0) + 1;
  const repeated = Object.entries(counts).filter(([, c]) => c > 1);
  assert.deepEqual(repeated, [], 'names drawn more than once');
  for (const must of ['姑苏区', '相城区', '昆山市', '常熟市']) assert.ok(counts[must] === 1, `${must} is not labelled: ${JSON.stringify(counts)}`);
  await page.screenshot({ path: join(artifacts, 'city-labels.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('the life-circle panel measures coverage from the metro stations, lights up a station\'s own area on hover and downloads the table', async () => {
  const { page, errors } = await openViewer('#12/31.305/120.615');
  await page.locator('#lc summary').click();
  await page.locator('#lc-preset option[value="gb50180_15min"]').waitFor({ state: 'attached', timeout: 20000 });
  await page.locator('#lc-preset').selectOption('gb50180_15min');
  assert.equal(await page.locator('#lc-minutes').inputValue(), '5,10,15');
  assert.match(await page.locator('#lc-preset-note').innerText(), /GB 50180-2018/);
  await page.locator('#lc-where').fill('kind=metro');
  await page.locator('#lc-submit').click();
  await page.locator('#lc-csv').waitFor({ timeout: 60000 });
  await waitForMap(page);
  const mins = await page.evaluate(() => [...new Set(window.gusuMap.getSource('lifecircles').serialize().data.features.map((f) => f.properties.minutes))].sort((a, b) => a - b));
  assert.deepEqual(mins, [5, 10, 15]);
  assert.equal(await page.locator('table.lc-units tr').count(), 11, 'one row per district and county-level city, plus the header');
  const report = await page.locator('#lc-report').innerText();
  assert.match(report, /姑苏区/);
  assert.match(report, /规划未给出/);
  // Hovering a service area names its station.
  const fc = await (await fetch(gusu.url + '/api/layers/rail_stations/features?bbox=120.60,31.295,120.63,31.315')).json();
  const st = fc.features.find((f) => f.properties.kind === 'metro');
  assert.ok(st, 'no metro station in view');
  const p = await screenPoint(page, st.geometry.coordinates);
  await page.mouse.move(p.x + 2, p.y + 2);
  const tip = page.locator('.lc-tip');
  await tip.waitFor({ timeout: 10000 });
  const lit = await page.evaluate(() => window.gusuMap.querySourceFeatures('lifecircles').filter((f) => window.gusuMap.getFeatureState({ source: 'lifecircles', id: f.id }).hover).length);
  assert.ok(lit > 0, 'no service area lit up under the pointer');
  await page.screenshot({ path: join(artifacts, 'lifecircles.png') });
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#lc-csv').click()]);
  const csv = await (await import('node:fs/promises')).readFile(await download.path(), 'utf8');
  assert.match(csv, /^category,minutes,unit_id,unit_code,unit_name,covered,total,share/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the export button downloads a PDF of the current view', async () => {
  const { page, errors } = await openViewer('#10/31.30/120.62');
  await page.locator('#export summary').click();
  await page.locator('#ex-paper').selectOption('A4');
  await page.locator('#ex-dpi').selectOption('150');
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 90000 }), page.locator('#ex-submit').click()]);
  const pdf = await (await import('node:fs/promises')).readFile(await download.path());
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
  assert.ok(pdf.length > 20000, `PDF of ${pdf.length} bytes`);
  (await import('node:fs')).writeFileSync(join(artifacts, 'export-view.pdf'), pdf);
  assert.deepEqual(errors, []);
  await page.close();
});

test('where labels collide, county-level names win over towns and stations', async () => {
  // Zoom 10.5 over the central city: unit, town and (soon) station labels crowd each other.
  const { page, errors } = await openViewer('#10.5/31.31/120.62');
  const result = await page.evaluate(() => {
    const map = window.gusuMap;
    const b = map.getBounds();
    const pts = map.getSource('town_labels').serialize().data;
    const load = typeof pts === 'string' ? fetch(pts).then((r) => r.json()) : Promise.resolve(pts);
    return load.then((fc) => {
      const inView = fc.features.filter((f) => b.contains(f.geometry.coordinates) && ['central_city', 'county_city'].includes(f.properties.level));
      const drawn = new Set(map.queryRenderedFeatures({ layers: ['town_system-label-units'] }).map((f) => f.properties.name_zh));
      const towns = map.queryRenderedFeatures({ layers: ['town_system-label-towns'] }).length;
      return { want: inView.map((f) => f.properties.name_zh), drawn: [...drawn], towns };
    });
  });
  assert.ok(result.want.length >= 3, `only ${result.want.length} unit label points in view`);
  assert.ok(result.towns > 0, 'no town labels in view: nothing to collide with');
  for (const name of result.want) assert.ok(result.drawn.includes(name), `${name} is not drawn (drawn: ${result.drawn})`);
  await page.screenshot({ path: join(artifacts, 'label-priority.png') });
  assert.deepEqual(errors, []);
  await page.close();
});
