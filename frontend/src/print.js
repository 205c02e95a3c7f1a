// The print layout behind GET /api/maps/export and `gusu export map`: the
// viewer's own style and code, at the paper's size, with title, legend of
// the layers shown, scale bar, north arrow, attribution, data date and
// layer versions. gusu's exporter loads it in headless Chromium and waits
// for body[data-ready].
import { maplibregl, CJK_FONTS, PLAN_LAYERS, getJSON, genericLayers, escapeHTML, styleColour } from './common.js';

const q = new URLSearchParams(location.search);
const lang = q.get('lang') === 'en' ? 'en' : 'zh';
const L = {
  zh: { centralCity: '中心城区', countyCity: '县级市', towns: '镇 / 街道', redlines: '生态保护红线（暂用湖泊）', highSpeed: '高速铁路',
    intercity: '城际铁路', conventional: '普速铁路', planned: '规划线路', stations: '轨道站点', legend: '图例', data: '数据日期',
    versions: '图层版本', sources: '数据来源', made: '由 gusu 生成', townSystem: '城镇体系', ecology: '生态空间', rail: '轨道交通', other: '其他图层' },
  en: { centralCity: 'Central city', countyCity: 'County-level cities', towns: 'Towns / subdistricts', redlines: 'Ecological red lines (provisional: lakes)',
    highSpeed: 'High-speed rail', intercity: 'Intercity rail', conventional: 'Conventional rail', planned: 'Planned lines', stations: 'Stations',
    water: 'Water (GSHHG/WDBII)', basemap: 'Basemap', legend: 'Legend', data: 'Data as of', versions: 'Layer versions', sources: 'Sources', made: 'Made with gusu', townSystem: 'Town system',
    ecology: 'Ecology', rail: 'Rail transit', other: 'Other layers' },
}[lang];

const want = (q.get('layers') || PLAN_LAYERS.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
const fail = (msg) => { document.body.dataset.error = msg; document.body.textContent = msg; };

async function main() {
  const title = q.get('title') || (lang === 'en' ? 'Suzhou New Urbanization Plan' : '苏州市新型城镇化规划');
  document.getElementById('title').textContent = title;
  document.title = title; // the PDF's title
  const [style, cat] = await Promise.all([getJSON('/styles/gusu.json'), getJSON('/api/layers')]);
  const plan = want.filter((n) => PLAN_LAYERS.includes(n));
  const extra = want.filter((n) => !PLAN_LAYERS.includes(n));
  style.sources.gusu.url = `/tiles/${plan.length ? plan.join(',') : PLAN_LAYERS.join(',')}.json`;
  // Each plan layer's style layers, its label points (their own source) included.
  style.layers = style.layers.filter((l) => l.type === 'background' || plan.includes(l['source-layer']) ||
    ((l.source === 'town_labels' || l.source === 'city_outside') && plan.includes('town_system')));
  if (!plan.length) delete style.sources.gusu;
  for (const name of extra) {
    const l = cat.layers.find((x) => x.name === name);
    if (!l) { fail(`unknown layer "${name}"`); return; }
    style.sources['extra-' + name] = { type: 'vector', url: `/tiles/${encodeURIComponent(name)}.json` };
    // Road networks under the plan's layers, other layers over them.
    const ls = genericLayers(name, 'extra-' + name, l.geometry_type, l.kind);
    if (l.kind === 'roads') style.layers.splice(1, 0, ...ls); else style.layers.push(...ls);
  }
  // Label fields follow the language, as in the viewer.
  for (const l of style.layers) {
    if (lang === 'en' && l.layout && l.layout['text-field']) {
      l.layout['text-field'] = l.id.startsWith('rail_stations') ? ['coalesce', ['get', 'name_en'], ['get', 'pinyin'], ['get', 'name']] : ['coalesce', ['get', 'name_en'], ['get', 'name_zh']];
    }
  }
  let bounds = (q.get('bbox') || '').split(',').map(Number);
  if (bounds.length !== 4 || bounds.some((v) => !Number.isFinite(v))) {
    const tj = await getJSON(`/tiles/${want.map(encodeURIComponent).join(',')}.json`);
    bounds = tj.bounds;
  }
  // The legend and credits first: they take their room before the map
  // measures its own.
  await legend(style, cat, plan, extra);
  credits(cat, want);
  const map = new maplibregl.Map({
    container: 'map', style, bounds: [[bounds[0], bounds[1]], [bounds[2], bounds[3]]], fitBoundsOptions: { padding: 0 },
    interactive: false, attributionControl: false, preserveDrawingBuffer: true, fadeDuration: 0, localIdeographFontFamily: CJK_FONTS,
    // Print sizes are larger than screens: past MapLibre's default 4096.
    maxCanvasSize: [8192, 8192],
  });
  window.gusuMap = map;
  const scale = new maplibregl.ScaleControl({ maxWidth: 160, unit: 'metric' });
  map.addControl(scale, 'bottom-left');
  map.on('error', (e) => console.error(e.error && e.error.message));
  await new Promise((resolve) => map.once('load', resolve));
  document.getElementById('scale').appendChild(scale._container);
  await document.fonts.ready;
  map.resize();
  map.fitBounds([[bounds[0], bounds[1]], [bounds[2], bounds[3]]], { padding: 0, duration: 0 });
  await new Promise((resolve) => map.once('idle', resolve));
  // Printing does not carry a WebGL canvas over reliably: the map goes in
  // as an image of the canvas, at its full (dpi) resolution.
  const img = new Image();
  img.alt = '';
  img.className = 'map-image';
  img.src = map.getCanvas().toDataURL('image/png');
  await img.decode();
  document.getElementById('map').appendChild(img);
  map.getCanvas().style.visibility = 'hidden';
  document.body.dataset.ready = '1';
}

function swatch(kind, colour, edge) {
  if (kind === 'line' || kind === 'dashed') return `<span class="sw line${kind === 'dashed' ? ' dashed' : ''}" style="border-color:${colour}"></span>`;
  if (kind === 'circle') return `<span class="sw circle" style="background:${colour}"></span>`;
  return `<span class="sw fill" style="background:${colour};border-color:${edge || colour}"></span>`;
}

// The legend lists the layers on the map only, each entry in the colour
// the style draws it.
async function legend(style, cat, plan, extra) {
  const has = (id) => style.layers.some((l) => l.id === id);
  const c = (sw) => styleColour(style.layers, sw);
  const groups = [];
  if (plan.includes('town_system')) {
    groups.push([L.townSystem, [
      has('town_system-fill') && swatch('fill', c({ layer: 'town_system-fill', match: 'central_city' }), '#7a6a58') + L.centralCity,
      has('town_system-fill') && swatch('fill', c({ layer: 'town_system-fill', match: 'county_city' }), '#7a6a58') + L.countyCity,
      has('town_system-towns') && swatch('circle', c({ layer: 'town_system-towns', circle: true })) + L.towns]]);
  }
  if (plan.includes('eco_redlines')) groups.push([L.ecology, [swatch('fill', c({ layer: 'eco_redlines-fill' }), c({ layer: 'eco_redlines-line' })) + L.redlines]]);
  if (plan.includes('rail_lines')) {
    const items = ['high_speed', 'intercity', 'conventional'].map((k) => swatch('line', c({ layer: 'rail_lines-existing', match: k })) + L[{ high_speed: 'highSpeed', intercity: 'intercity', conventional: 'conventional' }[k]]);
    try {
      const fc = await getJSON('/api/layers/rail_lines/features?limit=10000');
      const seen = new Map();
      for (const f of fc.features) {
        const p = f.properties;
        if ((p.kind === 'metro' || p.kind === 'tram') && p.color && p.status !== 'planned' && !seen.has(p.name)) seen.set(p.name, p);
      }
      const num = (n) => parseInt(String(n).replace(/\D+/g, ''), 10) || 999;
      for (const p of [...seen.values()].sort((a, b) => num(a.name) - num(b.name))) items.push(swatch('line', escapeHTML(p.color)) + escapeHTML(lang === 'en' ? (p.name_en || p.name) : p.name));
    } catch { /* the legend keeps the kinds */ }
    if (has('rail_lines-planned')) items.push(swatch('dashed', c({ layer: 'rail_lines-planned' })) + L.planned);
    if (plan.includes('rail_stations')) items.push(swatch('circle', c({ layer: 'rail_stations', circle: true })) + L.stations);
    groups.push([L.rail, items]);
  } else if (plan.includes('rail_stations')) groups.push([L.rail, [swatch('circle', c({ layer: 'rail_stations', circle: true })) + L.stations]]);
  if (plan.includes('basemap_water')) groups.push([L.basemap, [swatch('line', c({ layer: 'basemap_water-rivers' })) + L.water]]);
  const others = extra.map((n) => {
    const l = cat.layers.find((x) => x.name === n);
    return (l.kind === 'roads' ? swatch('line', '#b3a794') : swatch('fill', '#c2185b33', '#c2185b')) + escapeHTML(l.title);
  });
  if (others.length) groups.push([L.other, others]);
  document.getElementById('legend').innerHTML = groups.map(([h, items]) =>
    `<h2>${escapeHTML(h)}</h2>` + items.filter(Boolean).map((i) => `<div class="item">${i}</div>`).join('')).join('');
}

function credits(cat, names) {
  const shown = cat.layers.filter((l) => names.includes(l.name));
  const attributions = [...new Set(shown.map((l) => l.attribution).filter(Boolean))];
  const latest = shown.map((l) => l.updated_at).filter(Boolean).sort().pop();
  document.getElementById('attribution').textContent = `${L.sources}: ${attributions.join('; ')}`;
  document.getElementById('versions').textContent = `${L.data} ${latest ? latest.slice(0, 10) : '—'} · ${L.versions}: ` +
    shown.map((l) => `${l.name} v${l.version}`).join(', ') + ` · ${L.made}`;
  document.getElementById('subtitle').textContent = `${L.data} ${latest ? latest.slice(0, 10) : '—'}`;
}

main().catch((e) => fail(e.message));
