// The isochrone tool: 15/30/45-minute areas from a clicked point, a town or
// a station, with the towns each band reaches.
import { getJSON, escapeHTML, timeOfDay } from './common.js';

// Band colours, nearest band darkest.
const RAMP = ['#08519c', '#3182bd', '#6baed6', '#9ecae1', '#c6dbef'];

export function setupIsochrones({ map, t }) {
  const $ = (id) => document.getElementById(id);
  const originSel = $('iso-origin');
  let picked = null;
  let picking = false;
  let lastResult = null;
  const departure = timeOfDay('iso', $('iso-mode'));

  async function fillOrigins() {
    if (originSel.options.length > 1) return;
    const [towns, stations] = await Promise.all([
      getJSON('/api/layers/town_system/features?limit=1000'),
      getJSON('/api/layers/rail_stations/features?limit=1000'),
    ]);
    const opts = [];
    for (const f of towns.features) {
      if (f.properties.code) opts.push([`town:${f.properties.code}`, `${f.properties.name_zh} (${f.properties.level === 'town' ? t('townWord') : t('unitWord')})`]);
    }
    const seen = new Set();
    for (const f of stations.features) {
      const name = f.properties.name;
      if (f.properties.kind !== 'metro' && !seen.has(name)) {
        seen.add(name);
        opts.push([`station:${name}`, `${name}${t('stationWord')}`]);
      }
    }
    originSel.insertAdjacentHTML('beforeend', opts.map(([v, l]) => `<option value="${escapeHTML(v)}">${escapeHTML(l)}</option>`).join(''));
  }
  // Picking is shared with the viewer (map.gusuPicking), whose feature
  // popups and hover cursor stand aside while a click picks an origin.
  function setPicking(on) {
    picking = on;
    map.gusuPicking = on;
    map.getCanvas().style.cursor = on ? 'crosshair' : '';
  }
  $('iso').addEventListener('toggle', () => {
    setPicking($('iso').open && !originSel.value);
    if ($('iso').open) fillOrigins().catch((e) => { $('iso-report').textContent = e.message; });
  });
  originSel.addEventListener('change', () => {
    setPicking(!originSel.value);
    if (originSel.value) {
      // A named origin replaces a clicked one: its coordinates no longer apply.
      picked = null;
      $('iso-picked').textContent = '';
    }
  });

  map.on('click', (e) => {
    if (!picking) return;
    picked = [e.lngLat.lng, e.lngLat.lat];
    $('iso-picked').textContent = `${t('isoPickedAt')} ${picked[0].toFixed(4)}, ${picked[1].toFixed(4)}`;
    run();
  });
  $('iso-form').addEventListener('submit', (e) => { e.preventDefault(); run(); });

  async function run() {
    const params = new URLSearchParams({ minutes: $('iso-minutes').value.replace(/\s/g, ''), mode: $('iso-mode').value });
    if ($('iso-planned').checked) params.set('scenario', 'planned');
    const tod = departure();
    if (tod) for (const [k, v] of Object.entries(tod)) params.set(k, v);
    if (originSel.value) params.set('from', originSel.value);
    else if (picked) { params.set('lon', picked[0]); params.set('lat', picked[1]); }
    else { $('iso-report').innerHTML = `<p class="note">${escapeHTML(t('isoNeedOrigin'))}</p>`; return; }
    $('iso-submit').disabled = true;
    try {
      const fc = await getJSON('/api/isochrones?' + params);
      lastResult = fc;
      draw(fc);
      report(fc);
    } catch (err) {
      $('iso-report').innerHTML = `<p class="error" role="alert">${escapeHTML(err.message)}</p>`;
    } finally {
      $('iso-submit').disabled = false;
    }
  }

  function draw(fc) {
    const n = fc.features.length;
    fc.features.forEach((f, i) => { f.properties._color = RAMP[Math.min(n - 1 - i, RAMP.length - 1)]; });
    if (map.getSource('isochrones')) map.getSource('isochrones').setData(fc);
    else {
      map.addSource('isochrones', { type: 'geojson', data: fc });
      // Bands read on every fill: the bands stack, so each translucent fill
      // makes an opacity ramp (nearest strongest), and each band has a
      // white-cased outline in its colour.
      map.addLayer({ id: 'isochrones-fill', type: 'fill', source: 'isochrones', paint: { 'fill-color': ['get', '_color'], 'fill-opacity': 0.22 } }, 'rail_lines-existing');
      map.addLayer({ id: 'isochrones-casing', type: 'line', source: 'isochrones', paint: { 'line-color': '#ffffff', 'line-width': 3.5, 'line-opacity': 0.9 } }, 'rail_lines-existing');
      map.addLayer({ id: 'isochrones-line', type: 'line', source: 'isochrones', paint: { 'line-color': ['get', '_color'], 'line-width': 2 } }, 'rail_lines-existing');
    }
    $('iso-legend').innerHTML = '<ul class="iso-legend">' + fc.features.slice().reverse().map((f) =>
      `<li><span class="sw fill" style="background:${f.properties._color}59;border-color:${f.properties._color}"></span>≤ ${f.properties.minutes} ${escapeHTML(t('minWord'))} · ${f.properties.area_km2} km²</li>`).join('') + '</ul>';
    const b = fc.features[0].geometry.coordinates.flat(3);
    if (b.length) {
      const xs = b.filter((_, i) => i % 2 === 0); const ys = b.filter((_, i) => i % 2 === 1);
      map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]], { padding: 40, duration: 0, maxZoom: 13 });
    }
  }

  function report(fc) {
    const m = fc.metadata;
    let html = `<p class="note">${escapeHTML(t('isoModel'))}: ${escapeHTML(m.network)}${m.departure ? ` · ${escapeHTML(m.departure)}${m.window ? ` +${m.window}′ p${m.percentile}` : ''}` : ''} · ${escapeHTML(String(m.compute_ms))} ms</p>`;
    if (m.network !== 'roads') html += `<p class="note">${escapeHTML(m.note)}</p>`;
    for (const f of fc.features.slice().reverse()) {
      const towns = f.properties.towns_reached;
      html += `<h4>≤ ${f.properties.minutes} ${escapeHTML(t('minWord'))}: ${towns.length} ${escapeHTML(t('unitsReached'))}</h4>` +
        `<p class="towns">${towns.map((u) => `${escapeHTML(u.name)} <small>${u.minutes}′</small>`).join('、') || '—'}</p>`;
    }
    const blob = new Blob([JSON.stringify(fc)], { type: 'application/geo+json' });
    html += `<a id="iso-download" download="isochrones.geojson" href="${URL.createObjectURL(blob)}">${escapeHTML(t('download'))}</a>`;
    $('iso-report').innerHTML = html;
  }
  return { last: () => lastResult };
}
