// Shared by the viewer and the embed page.
import * as maplibregl from './vendor/maplibre-gl.mjs';

export { maplibregl };

// Chinese names are drawn with the browser's CJK fonts; gusu ships no SDF fonts.
export const CJK_FONTS = "'Noto Sans CJK SC', 'Noto Sans SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei', sans-serif";

export const PLAN_LAYERS = ['town_system', 'eco_redlines', 'rail_lines', 'rail_stations', 'basemap_water'];

export async function getJSON(url, init) {
  const resp = await fetch(url, init);
  let body = null;
  try { body = await resp.json(); } catch { /* not JSON */ }
  if (!resp.ok) {
    const msg = body && body.error ? body.error : `${resp.status} ${resp.statusText}`;
    throw new Error(msg);
  }
  return body;
}

export function escapeHTML(v) {
  return String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

const FIELD_NAMES = {
  name_zh: ['名称', 'Name'], name: ['名称', 'Name'], name_en: ['英文名', 'English name'], pinyin: ['拼音', 'Pinyin'],
  level: ['层级', 'Level'], code: ['行政区划代码', 'Admin code'], parent: ['上级单位代码', 'Parent code'], parent_name: ['上级单位', 'Parent unit'],
  unit_type: ['类型', 'Unit type'], population: ['人口', 'Population'], kind: ['类型', 'Kind'], status: ['状态', 'Status'],
  lines: ['线路', 'Lines'], transfer: ['换乘站', 'Interchange'], category: ['类别', 'Category'],
  protection_level: ['保护级别', 'Protection level'], area_m2: ['面积', 'Area'], length_km: ['长度', 'Length'],
  source: ['数据来源', 'Source'], geom_source: ['几何来源', 'Geometry source'], design_speed_kph: ['设计速度', 'Design speed'],
};

const VALUE_NAMES = {
  central_city: ['中心城区', 'Central city'], county_city: ['县级市', 'County-level city'], town: ['镇/街道', 'Town/subdistrict'],
  high_speed: ['高速铁路', 'High-speed rail'], intercity: ['城际铁路', 'Intercity rail'], conventional: ['普速铁路', 'Conventional rail'],
  metro: ['城市轨道交通', 'Metro'], tram: ['有轨电车', 'Tram'], existing: ['已建成', 'Existing'], planned: ['规划', 'Planned'],
  lake: ['湖泊', 'Lake'], subdistrict: ['街道', 'Subdistrict'], unknown: ['未知', 'Unknown'],
};

const HIDDEN = new Set(['id', 'geonames_id', 'datav_code', 'seat_source', 'population_source', 'color', 'line_id', 'station_id', 'approximate', 'schematic', 'gusu_count']);

function label(dict, key, lang) {
  const e = dict[key];
  return e ? e[lang === 'en' ? 1 : 0] : key;
}

function formatValue(key, v, lang) {
  if (typeof v === 'boolean') return v ? (lang === 'en' ? 'yes' : '是') : (lang === 'en' ? 'no' : '否');
  if (key === 'area_m2') return `${(Number(v) / 1e6).toFixed(2)} km²`;
  if (key === 'length_km') return `${Number(v).toFixed(1)} km`;
  if (key === 'design_speed_kph') return `${v} km/h`;
  if (key === 'population') return Number(v).toLocaleString(lang === 'en' ? 'en' : 'zh-CN');
  if (typeof v === 'string' && VALUE_NAMES[v]) return label(VALUE_NAMES, v, lang);
  return v;
}

// popupHTML shows a feature's attributes; data-quality flags come first and plainly.
export function popupHTML(layerName, props, lang) {
  const title = props.name_zh || props.name || props.title || layerName;
  const sub = props.name_en || props.pinyin || '';
  const flags = [];
  if (props.approximate === true || props.approximate === 'true') flags.push(lang === 'en' ? 'Approximate geometry' : '几何为近似');
  if (props.schematic === true || props.schematic === 'true') flags.push(lang === 'en' ? 'Schematic: stations joined in order' : '示意线路：按站点顺序连接');
  // A block of features too small to draw one by one at this zoom (the tile
  // server aggregates them): say so, with how many it stands for.
  const count = Number(props.gusu_count);
  if (count > 0) flags.push(lang === 'en' ? `${count} features too small to draw at this zoom, shown as one block; values are the most common; zoom in for each` : `本级别下过小的 ${count} 个要素合并显示；属性为最常见值，放大可见各要素`);
  let html = `<div class="popup"><h3>${escapeHTML(title)}</h3>`;
  if (sub) html += `<p class="sub">${escapeHTML(sub)}</p>`;
  for (const f of flags) html += `<p class="flag" role="note">⚠ ${escapeHTML(f)}</p>`;
  html += '<table>';
  for (const [k, v] of Object.entries(props)) {
    if (HIDDEN.has(k) || v === null || v === '' || k === 'name_zh' || k === 'name' || k === 'name_en' || k === 'pinyin') continue;
    html += `<tr><th>${escapeHTML(label(FIELD_NAMES, k, lang))}</th><td>${escapeHTML(formatValue(k, v, lang))}</td></tr>`;
  }
  return html + `</table><p class="layer">${escapeHTML(layerName)}</p></div>`;
}

// Style layers for a catalog layer that the planning style does not draw
// (GIS staff uploads): one generic look per geometry family.
export function genericLayers(name, sourceId, geometryType, kind) {
  const color = '#c2185b';
  const base = { source: sourceId, 'source-layer': name };
  const out = [];
  if (kind === 'roads') {
    // A road network is context: thin warm-grey streets under the plan's layers.
    return [{ ...base, id: `${name}-line`, type: 'line', minzoom: 11,
      paint: { 'line-color': '#b3a794', 'line-opacity': 0.8, 'line-width': ['interpolate', ['linear'], ['zoom'], 11, 0.3, 14, 1, 17, 3] } }];
  }
  if (geometryType === 'polygon' || geometryType === 'mixed') {
    out.push({ ...base, id: `${name}-fill`, type: 'fill', filter: ['==', ['geometry-type'], 'Polygon'], paint: { 'fill-color': color, 'fill-opacity': 0.2 } });
    // Aggregated blocks (gusu_count) are filled, not outlined: their edges are pixel-grid steps, not boundaries.
    out.push({ ...base, id: `${name}-outline`, type: 'line', filter: ['all', ['==', ['geometry-type'], 'Polygon'], ['!', ['has', 'gusu_count']]], paint: { 'line-color': color, 'line-width': 1.5 } });
  }
  if (geometryType === 'line' || geometryType === 'mixed') {
    out.push({ ...base, id: `${name}-line`, type: 'line', filter: ['==', ['geometry-type'], 'LineString'], paint: { 'line-color': color, 'line-width': 2 } });
  }
  if (geometryType === 'point' || geometryType === 'mixed') {
    out.push({ ...base, id: `${name}-point`, type: 'circle', filter: ['==', ['geometry-type'], 'Point'], paint: { 'circle-color': color, 'circle-radius': 4, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1 } });
  }
  return out;
}

// styleColour reads a legend swatch's colour from a style's layers (a
// match on the swatch's value, or the layer's plain colour), so legends
// always match the map.
export function styleColour(layers, sw) {
  const layer = layers.find((l) => l.id === sw.layer);
  if (!layer) return '#999';
  const prop = { fill: 'fill-color', line: 'line-color', circle: 'circle-color' }[layer.type];
  let v = layer.paint && layer.paint[sw.circle ? 'circle-stroke-color' : prop];
  if (sw.circle && layer.paint['circle-color'] && layer.paint['circle-color'] !== '#ffffff') v = layer.paint['circle-color'];
  if (Array.isArray(v) && v[0] === 'match') {
    for (let i = 2; i < v.length - 1; i += 2) {
      if (v[i] === sw.match) return Array.isArray(v[i + 1]) ? v[i + 1][v[i + 1].length - 1] : v[i + 1];
    }
    return v[v.length - 1];
  }
  return typeof v === 'string' ? v : '#999';
}

// timeOfDay wires a tool's timetable fields (PREFIX-tt: departure, window,
// percentile), shown for transit only, and returns a reader of what they
// ask for: null without a departure (the headway model answers).
export function timeOfDay(prefix, modeSelect) {
  const $ = (id) => document.getElementById(id);
  const show = () => { $(`${prefix}-tt`).hidden = modeSelect.value !== 'transit'; };
  modeSelect.addEventListener('change', show);
  show();
  return () => {
    const dep = $(`${prefix}-departure`).value;
    if (modeSelect.value !== 'transit' || !dep) return null;
    return { departure: dep.slice(0, 16), window: Number($(`${prefix}-window`).value) || 0, percentile: Number($(`${prefix}-percentile`).value) || 50 };
  };
}
