// The life-circle panel: catchments of a facility layer (POST
// /api/catchments) with a preset or custom bands, the coverage of a demand
// layer per band and per district, uncovered demand on the map, each
// facility's own service area on hover, and the table as CSV/XLSX.
import { maplibregl, getJSON, escapeHTML, timeOfDay } from './common.js';

const RAMP = ['#006d2c', '#31a354', '#74c476', '#a1d99b', '#c7e9c0'];

export function setupLifeCircles({ map, t, lang }) {
  const $ = (id) => document.getElementById(id);
  let presets = [];
  let lastBody = null;
  let last = null;
  const departure = timeOfDay('lc', $('lc-mode'));

  async function fill() {
    if ($('lc-preset').options.length > 1) return;
    const [lc, cat] = await Promise.all([getJSON('/api/catchments/presets'), getJSON('/api/layers')]);
    presets = lc.presets;
    const zh = lang() !== 'en';
    $('lc-preset').insertAdjacentHTML('beforeend', presets.map((p) =>
      `<option value="${escapeHTML(p.id)}">${escapeHTML(zh ? p.name_zh : p.name_en)}</option>`).join(''));
    const layers = cat.layers.filter((l) => l.kind !== 'synthetic' && l.kind !== 'roads');
    const opt = (l) => `<option value="${escapeHTML(l.name)}">${escapeHTML(l.title)}</option>`;
    $('lc-origins').innerHTML = layers.filter((l) => l.geometry_type !== 'line').map(opt).join('');
    $('lc-origins').value = 'rail_stations';
    $('lc-demand').insertAdjacentHTML('beforeend', layers.filter((l) => l.geometry_type !== 'line').map(opt).join(''));
  }
  $('lc').addEventListener('toggle', () => {
    if ($('lc').open) fill().catch((e) => { $('lc-report').innerHTML = `<p class="error">${escapeHTML(e.message)}</p>`; });
  });
  $('lc-preset').addEventListener('change', () => {
    const p = presets.find((x) => x.id === $('lc-preset').value);
    $('lc-preset-note').textContent = p ? `${p.source}. ${p.distance_note}` : '';
    if (!p) return;
    $('lc-minutes').value = p.minutes.join(',');
    if (p.mode) $('lc-mode').value = p.mode === 'bike' ? 'cycle' : p.mode;
  });
  $('lc-form').addEventListener('submit', (e) => { e.preventDefault(); run(); });

  function body() {
    const b = { origins: { layer: $('lc-origins').value }, mode: $('lc-mode').value, split: 'nearest',
      minutes: $('lc-minutes').value.split(',').map((s) => Number(s.trim())).filter((n) => n > 0) };
    const where = $('lc-where').value.trim();
    if (where) {
      const [k, ...v] = where.split('=');
      b.origins.where = { [k.trim()]: v.join('=').split('|').map((s) => s.trim()) };
    }
    if ($('lc-preset').value) b.preset = $('lc-preset').value;
    if ($('lc-category').value.trim()) b.origins.category = $('lc-category').value.trim();
    if ($('lc-demand').value) b.demand = { layer: $('lc-demand').value, weight: $('lc-weight').value.trim() };
    if ($('lc-units').checked) b.group_by = 'town_system';
    if ($('lc-compare').checked) b.compare = { scenario: 'planned' };
    const tod = departure();
    if (tod) {
      // On a timetable all facilities are measured at once (no own areas)
      // and scenarios are not compared yet.
      Object.assign(b, tod, { split: 'none' });
      delete b.compare;
    }
    return b;
  }

  async function run() {
    const b = body();
    $('lc-submit').disabled = true;
    $('lc-report').innerHTML = '';
    try {
      const fc = await getJSON('/api/catchments', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(b) });
      lastBody = b;
      last = fc;
      draw(fc);
      report(fc);
    } catch (err) {
      $('lc-report').innerHTML = `<p class="error" role="alert">${escapeHTML(err.message)}</p>`;
    } finally {
      $('lc-submit').disabled = false;
    }
  }

  function draw(fc) {
    const mins = [...new Set(fc.features.map((f) => f.properties.minutes))].sort((a, b) => a - b);
    fc.features.forEach((f) => { f.properties._color = RAMP[Math.min(mins.indexOf(f.properties.minutes), RAMP.length - 1)]; });
    // Largest band first, so the nearer bands draw over it.
    fc.features.sort((a, b) => b.properties.minutes - a.properties.minutes);
    const areas = { type: 'FeatureCollection', features: fc.features };
    if (map.getSource('lifecircles')) {
      map.getSource('lifecircles').setData(areas);
      map.getSource('lifecircles-uncovered').setData(fc.uncovered);
    } else {
      map.addSource('lifecircles', { type: 'geojson', data: areas, generateId: true });
      map.addSource('lifecircles-uncovered', { type: 'geojson', data: fc.uncovered });
      const below = map.getLayer('rail_lines-existing') ? 'rail_lines-existing' : undefined;
      map.addLayer({ id: 'lifecircles-fill', type: 'fill', source: 'lifecircles',
        paint: { 'fill-color': ['get', '_color'], 'fill-opacity': ['case', ['boolean', ['feature-state', 'hover'], false], 0.7, 0.4] } }, below);
      map.addLayer({ id: 'lifecircles-line', type: 'line', source: 'lifecircles',
        paint: { 'line-color': '#00441b', 'line-width': ['case', ['boolean', ['feature-state', 'hover'], false], 2.5, 0.6] } }, below);
      map.addLayer({ id: 'lifecircles-uncovered-fill', type: 'fill', source: 'lifecircles-uncovered', filter: ['==', ['geometry-type'], 'Polygon'],
        paint: { 'fill-color': '#d7301f', 'fill-opacity': 0.15, 'fill-outline-color': '#d7301f' } });
      map.addLayer({ id: 'lifecircles-uncovered-point', type: 'circle', source: 'lifecircles-uncovered', filter: ['==', ['geometry-type'], 'Point'],
        paint: { 'circle-radius': 3, 'circle-color': '#d7301f', 'circle-stroke-color': '#fff', 'circle-stroke-width': 0.5 } });
      hover();
    }
    $('lc-legend').innerHTML = '<ul class="iso-legend">' + mins.map((m, i) =>
      `<li><span class="sw fill" style="background:${RAMP[Math.min(i, RAMP.length - 1)]}66;border-color:${RAMP[Math.min(i, RAMP.length - 1)]}"></span>≤ ${m} ${escapeHTML(t('minWord'))}</li>`).join('') +
      `<li><span class="sw circle" style="background:#d7301f"></span>${escapeHTML(t('lcUncovered'))}</li></ul>`;
  }

  // Each facility's own service area lights up under the pointer, with
  // its name and the demand it serves first.
  function hover() {
    const tip = new maplibregl.Popup({ closeButton: false, closeOnClick: false, className: 'lc-tip' });
    let lit = [];
    const clear = () => { for (const id of lit) map.setFeatureState({ source: 'lifecircles', id }, { hover: false }); lit = []; };
    map.on('mousemove', 'lifecircles-fill', (e) => {
      if (map.gusuPicking) return;
      const f = e.features[0];
      const origin = f.properties.origin_id;
      clear();
      for (const g of map.querySourceFeatures('lifecircles')) {
        if (g.properties.origin_id === origin && g.properties.category === f.properties.category) {
          lit.push(g.id);
          map.setFeatureState({ source: 'lifecircles', id: g.id }, { hover: true });
        }
      }
      const p = f.properties;
      let html = `<strong>${escapeHTML(p.origin_name || '#' + p.origin_id)}</strong>`;
      if (p.category) html += ` · ${escapeHTML(p.category)}`;
      html += `<br>≤ ${p.minutes} ${escapeHTML(t('minWord'))} · ${p.area_km2} km²`;
      if (p.demand_covered != null) html += `<br>${escapeHTML(t('lcServes'))} ${num(p.demand_covered)}`;
      tip.setLngLat(e.lngLat).setHTML(html).addTo(map);
    });
    map.on('mouseleave', 'lifecircles-fill', () => { clear(); tip.remove(); });
  }

  const pct = (x) => `${(100 * x).toFixed(1)}%`;
  const num = (x) => Number(x).toLocaleString(lang() === 'en' ? 'en' : 'zh-CN', { maximumFractionDigits: 0 });

  function report(fc) {
    const m = fc.metadata;
    let html = `<p class="note">${escapeHTML(t('isoModel'))}: ${escapeHTML(fc.network)} · ${escapeHTML(String(m.compute_ms))} ms · ` +
      `${escapeHTML(t('lcFacilities'))} ${m.origins.placed}/${m.origins.count}</p>`;
    if (fc.network !== 'roads') html += `<p class="note">${escapeHTML(fc.note)}</p>`;
    if (m.departure) html += `<p class="note tt-note">${escapeHTML(m.departure)}${m.window ? ` +${m.window}′ p${m.percentile}` : ''}: ${escapeHTML(t('ttSplitNote'))}</p>`;
    if (m.demand && m.demand.note) html += `<p class="note">${escapeHTML(m.demand.note)}</p>`;
    const p = presets.find((x) => x.id === (lastBody && lastBody.preset));
    if (p) html += `<p class="note">${escapeHTML(p.plan_target ? p.plan_target[lang() === 'en' ? 'en' : 'zh'] : t('lcNoTarget'))}</p>`;
    html += `<table class="report lc-cov"><tr><th>${escapeHTML(t('lcBand'))}</th><th>${escapeHTML(t('lcCovered'))}</th><th>${escapeHTML(t('lcShare'))}</th></tr>`;
    for (const c of fc.coverage) html += `<tr><td>≤ ${c.minutes}′</td><td>${num(c.covered)} / ${num(c.total)}</td><td>${pct(c.share)}</td></tr>`;
    html += '</table>';
    if (fc.coverage.length && fc.coverage[0].units) {
      html += `<h4>${escapeHTML(t('lcPerUnit'))}</h4><table class="report lc-units"><tr><th></th>` +
        fc.coverage.map((c) => `<th>≤ ${c.minutes}′</th>`).join('') + '</tr>';
      fc.coverage[0].units.forEach((u, i) => {
        html += `<tr><td>${escapeHTML(u.name || u.code)}</td>` + fc.coverage.map((c) => `<td>${pct(c.units[i].share)}</td>`).join('') + '</tr>';
      });
      html += '</table>';
    }
    if (fc.categories) {
      html += `<h4>${escapeHTML(t('lcCategories'))}</h4><table class="report lc-cats">`;
      for (const c of fc.categories) {
        const cov = c.coverage[0];
        html += `<tr><td>${escapeHTML(c.name_zh)}</td><td>≤ ${c.minutes}′</td><td>${c.origins}</td><td>${cov ? pct(cov.share) : '—'}</td></tr>`;
      }
      html += '</table>';
    }
    if (fc.comparison) {
      html += `<h4>${escapeHTML(t('lcCompare'))}</h4><table class="report lc-compare">`;
      for (const b of fc.comparison.bands) html += `<tr><td>≤ ${b.minutes}′</td><td>${b.difference >= 0 ? '+' : ''}${num(b.difference)}</td><td>+${b.gained_km2} km²</td></tr>`;
      html += '</table>';
    }
    html += `<p class="downloads"><a id="lc-csv" href="#" data-format="csv">CSV</a> · <a id="lc-xlsx" href="#" data-format="xlsx">XLSX</a> · ` +
      `<a id="lc-geojson" download="catchments.geojson" href="${URL.createObjectURL(new Blob([JSON.stringify(fc)], { type: 'application/geo+json' }))}">GeoJSON</a></p>`;
    $('lc-report').innerHTML = html;
    for (const a of $('lc-report').querySelectorAll('a[data-format]')) a.addEventListener('click', download);
  }

  // The tables come from the server (the same run, as CSV or XLSX).
  async function download(e) {
    e.preventDefault();
    const format = e.target.dataset.format;
    const resp = await fetch('/api/catchments?format=' + format, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(lastBody) });
    if (!resp.ok) { $('lc-report').insertAdjacentHTML('beforeend', `<p class="error">${resp.status}</p>`); return; }
    const a = document.createElement('a');
    a.href = URL.createObjectURL(await resp.blob());
    a.download = 'coverage.' + format;
    document.body.appendChild(a);
    a.click();
    a.remove();
  }
  return { last: () => last };
}
