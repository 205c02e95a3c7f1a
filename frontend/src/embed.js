// The chrome-less map for <iframe>s:
//   /embed?layers=town_system,rail_lines&center=120.6,31.3&zoom=9[&token=...]
// With layers given, only those layers are drawn; plan layers keep the
// planning style, others get a generic one. ?token= is passed on to private
// layers' tiles.
import { maplibregl, CJK_FONTS, PLAN_LAYERS, getJSON, popupHTML, genericLayers } from './common.js';

const q = new URLSearchParams(location.search);
const want = (q.get('layers') || PLAN_LAYERS.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
const token = q.get('token');
const center = (q.get('center') || '120.75,31.38').split(',').map(Number);
const zoom = Number(q.get('zoom') || 8.3);
const lang = q.get('lang') === 'en' ? 'en' : 'zh';

async function buildStyle() {
  const style = await getJSON('/styles/gusu.json');
  const withToken = (url) => (token ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : url);
  const planWanted = want.filter((n) => PLAN_LAYERS.includes(n));
  style.sources.gusu.url = withToken(`/tiles/${planWanted.length ? planWanted.join(',') : PLAN_LAYERS.join(',')}.json`);
  style.layers = style.layers.filter((l) => l.type === 'background' || planWanted.includes(l['source-layer']) ||
    ((l.source === 'town_labels' || l.source === 'city_outside') && planWanted.includes('town_system')));
  if (!planWanted.length) delete style.sources.gusu;
  const cat = await getJSON('/api/layers');
  for (const name of want.filter((n) => !PLAN_LAYERS.includes(n))) {
    const l = cat.layers.find((x) => x.name === name);
    if (!l) throw new Error(`unknown layer "${name}"`);
    style.sources['extra-' + name] = { type: 'vector', url: withToken(`/tiles/${encodeURIComponent(name)}.json`) };
    style.layers.push(...genericLayers(name, 'extra-' + name, l.geometry_type, l.kind));
  }
  return style;
}

try {
  const map = new maplibregl.Map({
    container: 'map', style: await buildStyle(), center, zoom,
    localIdeographFontFamily: CJK_FONTS, attributionControl: { compact: true },
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
  window.gusuMap = map;
  const popup = new maplibregl.Popup({ maxWidth: '300px' });
  map.on('click', (e) => {
    const f = map.queryRenderedFeatures(e.point)[0];
    if (f && f.sourceLayer) popup.setLngLat(e.lngLat).setHTML(popupHTML(f.sourceLayer, f.properties, lang)).addTo(map);
  });
} catch (err) {
  document.getElementById('map').innerHTML = `<p style="font:14px sans-serif;padding:1em;color:#b00020">gusu: ${String(err.message).replace(/</g, '&lt;')}</p>`;
  console.error('gusu embed:', err.message);
}
