// The review-before-publish flow in the viewer: an editor's proposal is
// reviewed (diff, proposed features on the map), approved with a comment,
// published, and the audit history shows each step.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startGusu, launchBrowser, watchConsole, waitForMap, artifacts } from './gusu.mjs';

let gusu, browser;
before(async () => {
  gusu = await startGusu();
  browser = await launchBrowser();
});
after(async () => {
  if (browser) await browser.close();
  if (gusu) await gusu.stop();
});

function square(code, use, x, y) {
  const d = 0.01;
  return { type: 'Feature', properties: { code, use }, geometry: { type: 'Polygon', coordinates: [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]] } };
}

async function upload(token, layer, features, query = '') {
  const form = new FormData();
  form.append('file', new Blob([JSON.stringify({ type: 'FeatureCollection', features })]), 'zones.geojson');
  const resp = await fetch(`${gusu.url}/api/layers/${layer}/uploads${query}`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: form });
  return { status: resp.status, body: await resp.json() };
}

test('a reviewer sees a proposal with its diff and features, approves it, and the audit history records it', async () => {
  const editor = gusu.createToken('gis-staff', 'editor');
  const reviewer = gusu.createToken('chief-planner', 'reviewer');
  const created = await fetch(`${gusu.url}/api/layers`, { method: 'POST', headers: { Authorization: `Bearer ${editor}` }, body: JSON.stringify({ name: 'zones', title: '用地分区' }) });
  assert.equal(created.status, 201);
  assert.equal((await upload(editor, 'zones', [square('A', 'residential', 120.60, 31.30), square('B', 'park', 120.62, 31.30)])).status, 201);
  const proposed = await upload(editor, 'zones', [square('A', 'commercial', 120.60, 31.30), square('C', 'school', 120.64, 31.30)], '?review=true');
  assert.equal(proposed.status, 202, JSON.stringify(proposed.body));
  const id = proposed.body.proposal.id;

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = watchConsole(page);
  await page.goto(gusu.url + '/');
  await waitForMap(page);
  await page.locator('#review summary').click();
  await page.locator('#rv-token').fill(reviewer);
  await page.locator('#rv-load').click();
  await page.locator(`#rv-queue button[data-proposal="${id}"]`).click();
  const detail = page.locator('#rv-detail');
  await detail.locator('ul.changes').waitFor({ timeout: 20000 });
  const text = await detail.innerText();
  assert.match(text, /\+ C/);
  assert.match(text, /− B/);
  assert.match(text, /~ A: use: "residential" → "commercial"/);
  // The proposed features on the map.
  await page.locator('#rv-show').check();
  await page.waitForFunction(() => window.gusuMap.getSource('review-proposed') && window.gusuMap.querySourceFeatures('review-proposed').length > 0, null, { timeout: 20000 });
  await page.screenshot({ path: join(artifacts, 'review.png') });
  // Approve with a comment: published, and in the audit history.
  await page.locator('#rv-comment').fill('符合控制性详细规划');
  await page.locator('#rv-approve').click();
  await page.locator('#rv-result').filter({ hasText: /已批准|Approved/ }).waitFor({ timeout: 20000 });
  await page.locator('#rv-audit li').filter({ hasText: 'approve' }).first().waitFor({ timeout: 20000 });
  const audit = await page.locator('#rv-audit').innerText();
  assert.match(audit, /propose/);
  assert.match(audit, /符合控制性详细规划/);
  const fc = await (await fetch(`${gusu.url}/api/layers/zones/features`)).json();
  assert.deepEqual(fc.features.map((f) => f.properties.code).sort(), ['A', 'C']);
  assert.equal(fc.features.find((f) => f.properties.code === 'A').properties.use, 'commercial');
  assert.deepEqual(errors.filter((e) => !e.includes('/api/')), []);
  await page.close();
});

test('a proposal stays out of the public map until it is approved, and a rejection needs a reason', async () => {
  const editor = gusu.createToken('gis-staff-2', 'editor');
  const reviewer = gusu.createToken('chief-planner-2', 'reviewer');
  await fetch(`${gusu.url}/api/layers`, { method: 'POST', headers: { Authorization: `Bearer ${editor}` }, body: JSON.stringify({ name: 'zones2' }) });
  assert.equal((await upload(editor, 'zones2', [square('A', 'park', 120.60, 31.30)])).status, 201);
  const proposed = await upload(editor, 'zones2', [square('X', 'factory', 120.20, 31.15)], '?review=true');
  const before = await (await fetch(`${gusu.url}/api/layers/zones2/features`)).json();
  assert.deepEqual(before.features.map((f) => f.properties.code), ['A']);
  const page = await browser.newPage();
  await page.goto(gusu.url + '/');
  await waitForMap(page);
  await page.locator('#review summary').click();
  await page.locator('#rv-token').fill(reviewer);
  await page.locator('#rv-load').click();
  await page.locator(`#rv-queue button[data-proposal="${proposed.body.proposal.id}"]`).click();
  await page.locator('#rv-reject').waitFor();
  await page.locator('#rv-reject').click();
  await page.locator('#rv-result .error').waitFor({ timeout: 20000 });
  await page.locator('#rv-comment').fill('位于太湖生态保护红线内');
  await page.locator('#rv-reject').click();
  await page.locator('#rv-result').filter({ hasText: /已驳回|Rejected/ }).waitFor({ timeout: 20000 });
  const after = await (await fetch(`${gusu.url}/api/layers/zones2/features`)).json();
  assert.deepEqual(after.features.map((f) => f.properties.code), ['A']);
  await page.close();
});
