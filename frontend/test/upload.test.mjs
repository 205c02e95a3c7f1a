// The GIS staff's upload flow in the viewer, end to end, in Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startGusu, launchBrowser, watchConsole, waitForMap, artifacts } from './gusu.mjs';

const fixture = new URL('../../data/testdata/uploads/districts_4549_gbk.zip', import.meta.url).pathname;

let gusu, browser;
before(async () => {
  gusu = await startGusu();
  browser = await launchBrowser();
});
after(async () => {
  if (browser) await browser.close();
  if (gusu) await gusu.stop();
});

test('uploading a CGCS2000 GBK Shapefile with a token creates a layer, reports red-line conflicts and shows it', async () => {
  const token = gusu.createToken('browser-test', 'editor');
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = watchConsole(page);
  // The upload flow's expected refusals are not page errors.
  await page.goto(gusu.url + '/');
  await waitForMap(page);
  await page.locator('#upload summary').click();
  await page.locator('#up-token').fill(token);
  await page.locator('#up-layer').selectOption('__new__');
  await page.locator('#up-name').fill('districts_official');
  await page.locator('#up-title').fill('区县边界（上传）');
  await page.locator('#up-file').setInputFiles(fixture);
  await page.locator('#up-submit').click();
  const report = page.locator('#up-report');
  await report.locator('table.report').waitFor({ timeout: 60000 });
  const text = await report.innerText();
  assert.match(text, /EPSG:4549/);
  assert.match(text, /写入要素\s+10/);
  assert.match(text, /与生态保护红线重叠的要素: [1-9]/);
  assert.match(text, /吴中区/, 'the district in Taihu is listed as a red-line conflict by its Chinese name');
  // The conflicts are drawn on the map, and the new layer joins the panel.
  await page.waitForFunction(() => window.gusuMap.getSource('upload-conflicts') && window.gusuMap.querySourceFeatures('upload-conflicts').length > 0, null, { timeout: 20000 });
  await page.locator('#layers').getByText('区县边界（上传）').waitFor({ timeout: 20000 });
  await waitForMap(page);
  const drawn = await page.evaluate(() => window.gusuMap.queryRenderedFeatures().filter((f) => f.sourceLayer === 'districts_official').length);
  assert.ok(drawn > 0, 'the uploaded layer is not drawn');
  await page.screenshot({ path: join(artifacts, 'upload.png') });
  // The history lists the upload, under the number the report gave, as current.
  const reported = (text.match(/(?:版本|Version)\s+(\d+)/) || [])[1];
  assert.ok(reported, 'the report shows a version number');
  assert.match(await page.locator('#up-versions').innerText(), new RegExp(`v${reported} · upload[^\\n]*(当前|current)`));
  const unexpected = errors.filter((e) => !e.includes('/api/'));
  assert.deepEqual(unexpected, []);
  await page.close();
});

test('an upload without a valid token is refused in the page', async () => {
  const page = await browser.newPage();
  await page.goto(gusu.url + '/');
  await waitForMap(page);
  await page.locator('#upload summary').click();
  await page.locator('#up-token').fill('gusu_not_a_real_token');
  await page.locator('#up-layer').selectOption('town_system');
  await page.locator('#up-file').setInputFiles(fixture);
  await page.locator('#up-submit').click();
  await page.locator('#up-report .error').waitFor({ timeout: 20000 });
  assert.match(await page.locator('#up-report').innerText(), /401/);
  await page.close();
});
