// The planners' viewer: the plan's layers with a layer panel, legend,
// feature popups and a Chinese/English switch. Layers that appear in the
// catalog later (uploads) are added without reloading.
import { maplibregl, CJK_FONTS, PLAN_LAYERS, getJSON, popupHTML, genericLayers, escapeHTML, styleColour } from './common.js';
import { setupUpload } from './upload.js';
import { setupIsochrones } from './isochrones.js';
import { setupLifeCircles } from './lifecircles.js';
import { setupIndicators } from './indicators.js';
import { setupReview } from './review.js';

const T = {
  zh: {
    title: '苏州新型城镇化规划', subtitle: '“十四五”规划图层', loading: '加载中…', ready: '已加载 {n} 个图层',
    townSystem: '城镇体系 “1+4+N”', centralCity: '中心城区', countyCity: '县级市', towns: '镇 / 街道',
    ecology: '生态空间', redlines: '生态保护红线（暂用湖泊）', rail: '轨道交通', highSpeed: '高速铁路', intercity: '城际铁路',
    conventional: '普速铁路', metro: '城市轨道（示意）', planned: '规划线路', stations: '站点', uploads: '上传图层',
    basemap: '底图', water: '水系（长江岸线、河流运河）',
    basemapNote: '底图取自开放数据：水系为 1:100 万 GSHHG/WDBII（缺澄湖、金鸡湖等湖泊和大部分河道），道路仅有姑苏老城的 OSM 街道；其他地区底图信息较少，不作补绘。',
    approximate: '近似', error: '出错：', lang: 'EN',
    uploadTitle: '上传边界数据', token: '令牌', layer: '图层', newName: '新图层名称（英文）', newTitle: '标题',
    file: '文件（GeoJSON、Shapefile 压缩包、GeoPackage；装有 GDAL 时还可 KML/KMZ、FileGDB、DXF、MapInfo、CSV 等）', crs: '坐标系', crsAuto: '自动识别', append: '追加（不替换现有要素）',
    uploadButton: '上传', newLayer: '＋ 新建图层', networkError: '网络错误', uploadFailed: '上传失败：', reportTitle: '上传报告',
    rVersion: '版本', rFormat: '格式', rCRS: '坐标系', rRead: '读取要素', rWritten: '写入要素', rRepaired: '修复', rSkipped: '跳过',
    rDiff: '与上一版本比较', rArea: '总面积', rRepairedList: '已修复的要素：', rRedlines: '与生态保护红线重叠的要素',
    history: '版本历史', current: '当前', restore: '恢复',
    reviewTitle: '审核与审计', rvLoad: '载入待审提议', rvNone: '没有待审的提议', rvProposal: '提议', rvFeatures: '个要素',
    rvGeomChanged: '几何已变', rvAgainst: '与红线/管控线重叠：', rvShow: '在地图上显示提议版本', rvComment: '意见 / 驳回理由',
    rvApprove: '批准发布', rvReject: '驳回', rvApproved: '已批准，发布为', rvRejected: '已驳回', rvAudit: '审计记录',
    upReview: '提交审核（审核通过后发布）', upProposed: '已提交审核（提议 #{id}），审核通过前不会发布。',
    isoTitle: '可达性分析（等时圈）', isoOrigin: '起点', isoClick: '在地图上点击选择', isoMode: '方式', mTransit: '公共交通（步行＋轨道）',
    mWalk: '步行', mBike: '自行车', mDrive: '驾车', isoBands: '时间（分钟）', isoPlanned: '包含规划线路', isoRun: '计算',
    ttTitle: '时刻表', ttDeparture: '出发时间（留空：按发车间隔估算）', ttWindow: '出发时间窗（分钟，0 为单次出发）', ttPercentile: '百分位（各次出发中至少该比例可达）',
    ttNote: '未导入 GTFS 时，轨道模型按发车间隔生成全天时刻表。', ttSplitNote: '按时刻表计算时不区分各设施的服务范围，也不做情景比较。',
    isoPickedAt: '起点：', isoNeedOrigin: '请在地图上点击或选择起点。', isoModel: '网络模型', minWord: '分钟', unitsReached: '个城镇单元可达',
    download: '下载 GeoJSON', townWord: '镇/街道', unitWord: '区/市', stationWord: '站',
    lcTitle: '生活圈与覆盖分析', lcPreset: '生活圈标准', lcCustom: '自定义', lcOrigins: '设施图层', lcWhere: '筛选（属性=值，可留空）',
    lcCategory: '类别属性（按标准的设施类别统计，可留空）', lcDemand: '需求（人口）图层', lcDemandDefault: '城镇体系 2020 年人口（默认）',
    lcWeight: '权重属性', lcUnits: '按区、县级市统计', lcCompareBox: '与规划线路情景比较', lcUncovered: '未覆盖的需求',
    lcServes: '最近服务需求：', lcFacilities: '设施', lcNoTarget: '规划未给出该生活圈的覆盖率目标。', lcBand: '时间', lcCovered: '覆盖',
    lcShare: '比例', lcPerUnit: '各区、县级市覆盖比例', lcCategories: '各类设施', lcCompare: '规划情景增加',
    exTitle: '导出地图', exMapTitle: '标题', exPaper: '纸张', exOrientation: '方向', exLandscape: '横向', exPortrait: '纵向', exDPI: '分辨率（dpi）',
    exFormat: '格式', exButton: '导出当前视图', exNote: '导出当前视图范围和显示的图层，带图例、比例尺、指北针和数据来源。', exWorking: '正在生成…',
    indTitle: '规划监测指标', indBaseline: '2020年', indTarget: '2025年目标', st_on_track: '达标', st_behind: '未达标', st_not_computable: '无法计算',
  },
  en: {
    title: 'Suzhou New Urbanization Plan', subtitle: '14th Five-Year Plan layers', loading: 'Loading…', ready: '{n} layers loaded',
    townSystem: 'Town system "1+4+N"', centralCity: 'Central city', countyCity: 'County-level cities', towns: 'Towns / subdistricts',
    ecology: 'Ecology', redlines: 'Ecological red lines (provisional: lakes)', rail: 'Rail transit', highSpeed: 'High-speed rail',
    intercity: 'Intercity rail', conventional: 'Conventional rail', metro: 'Metro (schematic)', planned: 'Planned lines',
    stations: 'Stations', uploads: 'Uploaded layers', basemap: 'Basemap', water: 'Water (Yangtze shore, rivers, canals)',
    basemapNote: 'The basemap is open data: water is 1:1M GSHHG/WDBII (Chenghu, Jinji Lake and most rivers are missing) and streets are OSM for the old city (Gusu) only; elsewhere context is thin and is not invented.', approximate: 'approximate', error: 'Error: ', lang: '中文',
    uploadTitle: 'Upload boundaries', token: 'Token', layer: 'Layer', newName: 'New layer name (a-z, 0-9, _)', newTitle: 'Title',
    file: 'File (GeoJSON, zipped Shapefile, GeoPackage; with GDAL installed also KML/KMZ, FileGDB, DXF, MapInfo, CSV…)', crs: 'Coordinate system', crsAuto: 'Detect', append: 'Append (keep current features)',
    uploadButton: 'Upload', newLayer: '+ New layer', networkError: 'network error', uploadFailed: 'Upload failed:', reportTitle: 'Upload report',
    rVersion: 'Version', rFormat: 'Format', rCRS: 'Coordinate system', rRead: 'Features read', rWritten: 'Features written', rRepaired: 'Repaired',
    rSkipped: 'Skipped', rDiff: 'Against the previous version', rArea: 'Total area', rRepairedList: 'Repaired features:',
    rRedlines: 'Features overlapping the ecological red lines', history: 'Version history', current: 'current', restore: 'Restore',
    reviewTitle: 'Review and audit', rvLoad: 'Load proposals awaiting review', rvNone: 'No proposals await review', rvProposal: 'Proposal', rvFeatures: 'features',
    rvGeomChanged: 'geometry changed', rvAgainst: 'Overlapping the red line / control line', rvShow: 'Show the proposed version on the map', rvComment: 'Comment / reason for rejection',
    rvApprove: 'Approve and publish', rvReject: 'Reject', rvApproved: 'Approved, published as', rvRejected: 'Rejected', rvAudit: 'Audit history',
    upReview: 'Submit for review (published once approved)', upProposed: 'Submitted for review (proposal #{id}); it is not published until approved.',
    isoTitle: 'Accessibility (isochrones)', isoOrigin: 'Origin', isoClick: 'Click the map', isoMode: 'Mode', mTransit: 'Transit (walk + rail)',
    mWalk: 'Walk', mBike: 'Bike', mDrive: 'Drive', isoBands: 'Minutes', isoPlanned: 'Include planned lines', isoRun: 'Compute',
    ttTitle: 'Timetable', ttDeparture: 'Departure (empty: headway estimate)', ttWindow: 'Departure window (minutes, 0: one departure)', ttPercentile: 'Percentile (reached in at least this share of departures)',
    ttNote: 'With no GTFS imported, the rail model runs as an all-day timetable from its headways.', ttSplitNote: 'On a timetable, facilities\' own areas and the scenario comparison are not computed.',
    isoPickedAt: 'Origin:', isoNeedOrigin: 'Click the map or choose an origin.', isoModel: 'Network model', minWord: 'min', unitsReached: 'town-system units reached',
    download: 'Download GeoJSON', townWord: 'town', unitWord: 'district/city', stationWord: ' station',
    lcTitle: 'Life circles and coverage', lcPreset: 'Life-circle standard', lcCustom: 'Custom', lcOrigins: 'Facility layer', lcWhere: 'Filter (attribute=value, optional)',
    lcCategory: 'Category attribute (report per facility category of the standard; optional)', lcDemand: 'Demand (population) layer',
    lcDemandDefault: 'Town system, 2020 population (default)', lcWeight: 'Weight attribute', lcUnits: 'Per district and county-level city',
    lcCompareBox: 'Compare with the planned lines', lcUncovered: 'Uncovered demand', lcServes: 'Serves first:', lcFacilities: 'facilities',
    lcNoTarget: 'The plan sets no coverage target for this circle.', lcBand: 'Band', lcCovered: 'Covered', lcShare: 'Share',
    lcPerUnit: 'Share covered per district / county-level city', lcCategories: 'Per facility category', lcCompare: 'Planned scenario adds',
    exTitle: 'Export map', exMapTitle: 'Title', exPaper: 'Paper', exOrientation: 'Orientation', exLandscape: 'Landscape', exPortrait: 'Portrait',
    exDPI: 'Resolution (dpi)', exFormat: 'Format', exButton: 'Export the current view',
    exNote: 'Exports the current view and the layers shown, with legend, scale bar, north arrow and sources.', exWorking: 'Rendering…',
    indTitle: 'Plan indicators', indBaseline: '2020', indTarget: '2025 target', st_on_track: 'on track', st_behind: 'behind', st_not_computable: 'not computable',
  },
};

let lang = localStorage.getItem('gusu.lang') || 'zh';
let indicatorsPanel = null;
const t = (k) => (T[lang] && T[lang][k]) || k;

// Toggle groups: each entry filters or hides parts of the planning style.
const groups = [
  { head: 'townSystem', items: [
    { key: 'centralCity', level: 'central_city', swatch: { layer: 'town_system-fill', match: 'central_city' } },
    { key: 'countyCity', level: 'county_city', swatch: { layer: 'town_system-fill', fallback: true } },
    { key: 'towns', layers: ['town_system-towns', 'town_system-label-towns'], swatch: { layer: 'town_system-towns', circle: true } },
  ] },
  { head: 'ecology', items: [
    { key: 'redlines', layers: ['eco_redlines-fill', 'eco_redlines-line'], swatch: { layer: 'eco_redlines-fill', outline: 'eco_redlines-line' } },
  ] },
  { head: 'rail', items: [
    { key: 'highSpeed', kind: 'high_speed', swatch: { layer: 'rail_lines-existing', match: 'high_speed', line: true } },
    { key: 'intercity', kind: 'intercity', swatch: { layer: 'rail_lines-existing', match: 'intercity', line: true } },
    { key: 'conventional', kind: 'conventional', swatch: { layer: 'rail_lines-existing', match: 'conventional', line: true } },
    { key: 'metro', kind: 'metro', swatch: { layer: 'rail_lines-existing', match: 'metro', line: true } },
    { key: 'planned', layers: ['rail_lines-planned'], swatch: { layer: 'rail_lines-planned', line: true, dashed: true } },
    { key: 'stations', layers: ['rail_stations', 'rail_stations-label'], swatch: { layer: 'rail_stations', circle: true } },
  ] },
  { head: 'basemap', note: 'basemapNote', items: [
    { key: 'water', layers: ['basemap_water-shore', 'basemap_water-rivers', 'basemap_water-label'], swatch: { layer: 'basemap_water-rivers', line: true } },
  ] },
];

const state = {
  levels: new Set(['central_city', 'county_city']),
  kinds: new Set(['high_speed', 'intercity', 'conventional', 'metro', 'tram']),
  metroLines: [], // {name, name_en, color, status} of each metro/tram line, for the legend
  hidden: new Set(),
  extra: new Map(), // uploaded layer name → {title, visible}
};

const map = new maplibregl.Map({
  container: 'map',
  style: '/styles/gusu.json',
  center: [120.75, 31.38],
  zoom: 8.3,
  hash: true,
  localIdeographFontFamily: CJK_FONTS,
  attributionControl: { compact: true },
});
map.addControl(new maplibregl.NavigationControl(), 'top-right');
map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');
window.gusuMap = map; // for tests and for developers poking at the page

// The status line keeps what it says (a message key and its values, or an
// error), so that switching the language re-renders it instead of
// resetting it to "Loading…".
const statusEl = document.getElementById('status');
let statusState = { key: 'loading', vars: {} };
function renderStatus() {
  if (statusState.error) {
    statusEl.textContent = t('error') + statusState.error;
  } else {
    let text = t(statusState.key);
    for (const [k, v] of Object.entries(statusState.vars)) text = text.replace(`{${k}}`, v);
    statusEl.textContent = text;
  }
  statusEl.classList.toggle('error', Boolean(statusState.error));
}
function setStatus(key, vars = {}) {
  statusState = { key, vars };
  renderStatus();
}
function setError(message) {
  statusState = { error: message };
  renderStatus();
}

// colourOf reads a swatch colour from the style itself, so the legend always matches it.
const colourOf = (sw) => styleColour(map.getStyle().layers, sw);

function swatchHTML(sw) {
  const c = colourOf(sw);
  if (sw.line) return `<span class="sw line${sw.dashed ? ' dashed' : ''}" style="border-color:${c}"></span>`;
  if (sw.circle) return `<span class="sw circle" style="background:${c}"></span>`;
  const edge = sw.outline ? colourOf({ layer: sw.outline }) : '#7a6a58';
  return `<span class="sw fill" style="background:${c};border-color:${edge}"></span>`;
}

function applyFilters() {
  const levels = ['literal', [...state.levels]];
  for (const id of ['town_system-fill', 'town_system-outline']) {
    if (map.getLayer(id)) map.setFilter(id, ['all', ['==', ['geometry-type'], 'Polygon'], ['in', ['get', 'level'], levels]]);
  }
  // Unit names come from their label points (one per unit).
  if (map.getLayer('town_system-label-units')) map.setFilter('town_system-label-units', ['in', ['get', 'level'], levels]);
  const kinds = ['literal', [...state.kinds]];
  if (map.getLayer('rail_lines-existing')) map.setFilter('rail_lines-existing', ['all', ['!=', ['get', 'status'], 'planned'], ['in', ['get', 'kind'], kinds]]);
  for (const g of groups) {
    for (const it of g.items) {
      for (const id of it.layers || []) {
        if (map.getLayer(id)) map.setLayoutProperty(id, 'visibility', state.hidden.has(it.key) ? 'none' : 'visible');
      }
    }
  }
  for (const [name, e] of state.extra) {
    for (const l of genericLayers(name, 'extra-' + name, e.geometryType, e.kind)) {
      if (map.getLayer(l.id)) map.setLayoutProperty(l.id, 'visibility', e.visible ? 'visible' : 'none');
    }
  }
}

function isOn(it) {
  if (it.level) return state.levels.has(it.level);
  if (it.kind) return state.kinds.has(it.kind);
  return !state.hidden.has(it.key);
}

function toggle(it, on) {
  if (it.level) on ? state.levels.add(it.level) : state.levels.delete(it.level);
  else if (it.kind) {
    on ? state.kinds.add(it.kind) : state.kinds.delete(it.kind);
    if (it.kind === 'metro') on ? state.kinds.add('tram') : state.kinds.delete('tram');
  } else on ? state.hidden.delete(it.key) : state.hidden.add(it.key);
  applyFilters();
}

// Map labels follow the interface language: English names (drawn with
// gusu's own Latin glyphs) where the data has them, Chinese otherwise.
const LABEL_FIELDS = {
  'town_system-label-units': { zh: ['get', 'name_zh'], en: ['coalesce', ['get', 'name_en'], ['get', 'name_zh']] },
  'town_system-label-towns': { zh: ['get', 'name_zh'], en: ['coalesce', ['get', 'name_en'], ['get', 'name_zh']] },
  'rail_stations-label': { zh: ['get', 'name'], en: ['coalesce', ['get', 'name_en'], ['get', 'pinyin'], ['get', 'name']] },
  'basemap_water-label': { zh: ['get', 'name'], en: ['coalesce', ['get', 'name_en'], ['get', 'name']] },
};
function applyLabelLanguage() {
  for (const [id, fields] of Object.entries(LABEL_FIELDS)) {
    if (map.getLayer(id)) map.setLayoutProperty(id, 'text-field', fields[lang === 'en' ? 'en' : 'zh']);
  }
}

// The metro legend: each line with its own colour, as the map draws it
// (the style colours metro lines by their color attribute).
function metroLegendHTML() {
  return '<ul class="metro-lines">' + state.metroLines.map((l) =>
    `<li><span class="swatch line" style="background:${escapeHTML(l.color)}"></span>${escapeHTML(lang === 'en' ? (l.name_en || l.name) : l.name)}` +
    `${l.status === 'planned' ? ' ' + escapeHTML(t('planned')) : ''}</li>`).join('') + '</ul>';
}

async function loadMetroLines() {
  try {
    const fc = await getJSON('/api/layers/rail_lines/features?limit=10000');
    const seen = new Map();
    for (const f of fc.features) {
      const p = f.properties;
      if ((p.kind === 'metro' || p.kind === 'tram') && p.color && !seen.has(p.name)) seen.set(p.name, p);
    }
    const num = (n) => parseInt(String(n).replace(/\D+/g, ''), 10) || 999;
    state.metroLines = [...seen.values()].sort((a, b) => num(a.name) - num(b.name) || String(a.name).localeCompare(String(b.name)));
    renderPanel();
  } catch (err) {
    setError(err.message);
  }
}

function extraToggleHTML(name, e) {
  const sw = e.kind === 'roads' ? '<span class="sw line" style="border-color:#b3a794"></span>' : '<span class="sw fill" style="background:#c2185b33;border-color:#c2185b"></span>';
  return `<label for="toggle-extra-${name}"><input type="checkbox" id="toggle-extra-${name}" data-extra="${escapeHTML(name)}"${e.visible ? ' checked' : ''}>${sw}<span>${escapeHTML(e.title)}</span></label>`;
}

function renderPanel() {
  document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
  applyLabelLanguage();
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  renderStatus();
  document.getElementById('lang').textContent = t('lang');
  const nav = document.getElementById('layers');
  let html = '';
  for (const g of groups) {
    html += `<fieldset><legend>${escapeHTML(t(g.head))}</legend>`;
    for (const it of g.items) {
      const id = `toggle-${it.key}`;
      html += `<label for="${id}"><input type="checkbox" id="${id}" data-key="${it.key}"${isOn(it) ? ' checked' : ''}>${swatchHTML(it.swatch)}<span>${escapeHTML(t(it.key))}</span></label>`;
      if (it.key === 'metro' && state.metroLines.length) html += metroLegendHTML();
    }
    if (g.head === 'basemap') {
      // Road networks are context: they sit with the basemap.
      for (const [name, e] of state.extra) if (e.kind === 'roads') html += extraToggleHTML(name, e);
      html += `<p class="note">${escapeHTML(t(g.note))}</p>`;
    }
    html += '</fieldset>';
  }
  const uploads = [...state.extra].filter(([, e]) => e.kind !== 'roads');
  if (uploads.length) {
    html += `<fieldset><legend>${escapeHTML(t('uploads'))}</legend>`;
    for (const [name, e] of uploads) {
      html += extraToggleHTML(name, e);
    }
    html += '</fieldset>';
  }
  nav.innerHTML = html;
  for (const input of nav.querySelectorAll('input[data-key]')) {
    const it = groups.flatMap((g) => g.items).find((i) => i.key === input.dataset.key);
    input.addEventListener('change', () => toggle(it, input.checked));
  }
  for (const input of nav.querySelectorAll('input[data-extra]')) {
    input.addEventListener('change', () => { state.extra.get(input.dataset.extra).visible = input.checked; applyFilters(); });
  }
}

// Layers in the catalog but not in the planning style: uploads. Checked on
// load, every 30 s and when the tab regains focus.
async function syncCatalog() {
  let cat;
  try {
    const tok = sessionStorage.getItem('gusu.token');
    cat = await getJSON('/api/layers', tok ? { headers: { Authorization: `Bearer ${tok}` } } : undefined);
  } catch (err) {
    setError(err.message);
    return;
  }
  let changed = false;
  for (const l of cat.layers) {
    if (PLAN_LAYERS.includes(l.name) || l.kind === 'synthetic' || state.extra.has(l.name)) continue;
    const src = 'extra-' + l.name;
    if (!map.getSource(src)) map.addSource(src, { type: 'vector', url: `/tiles/${encodeURIComponent(l.name)}.json` });
    // Uploads draw above the town system, beneath red lines, rail and labels;
    // a road network beneath the town system's outlines.
    const beneath = l.kind === 'roads' && map.getLayer('town_system-outline') ? 'town_system-outline' : 'eco_redlines-fill';
    for (const sl of genericLayers(l.name, src, l.geometry_type, l.kind)) if (!map.getLayer(sl.id)) map.addLayer(sl, beneath);
    state.extra.set(l.name, { title: l.title, visible: true, geometryType: l.geometry_type, kind: l.kind });
    changed = true;
  }
  if (changed) renderPanel();
  setStatus('ready', { n: cat.layers.filter((l) => l.kind !== 'synthetic').length });
}

const popup = new maplibregl.Popup({ maxWidth: '320px' });
let lastFeature = null;
map.on('click', (e) => {
  if (map.gusuPicking) return; // the click picks an isochrone origin
  const features = map.queryRenderedFeatures(e.point).filter((f) => f.source === 'gusu' || String(f.source).startsWith('extra-'));
  if (!features.length) { popup.remove(); return; }
  // Points and lines over polygons: the most specific feature first.
  const order = { circle: 0, symbol: 1, line: 2, fill: 3 };
  features.sort((a, b) => (order[a.layer.type] ?? 9) - (order[b.layer.type] ?? 9));
  const f = features[0];
  lastFeature = f;
  popup.setLngLat(e.lngLat).setHTML(popupHTML(f.sourceLayer, f.properties, lang)).addTo(map);
});
for (const id of ['town_system-fill', 'town_system-towns', 'eco_redlines-fill', 'rail_lines-existing', 'rail_stations']) {
  map.on('mouseenter', id, () => { if (!map.gusuPicking) map.getCanvas().style.cursor = 'pointer'; });
  map.on('mouseleave', id, () => { if (!map.gusuPicking) map.getCanvas().style.cursor = ''; });
}

document.getElementById('lang').addEventListener('click', () => {
  lang = lang === 'zh' ? 'en' : 'zh';
  localStorage.setItem('gusu.lang', lang);
  renderPanel();
  if (indicatorsPanel) indicatorsPanel.rerender();
  if (popup.isOpen() && lastFeature) popup.setHTML(popupHTML(lastFeature.sourceLayer, lastFeature.properties, lang));
});

// Map export: the current view and the layers shown, through
// GET /api/maps/export (the server draws it with the same style).
function setupExport() {
  const $ = (id) => document.getElementById(id);
  $('ex-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const b = map.getBounds();
    const shown = [];
    if (state.levels.size || !state.hidden.has('towns')) shown.push('town_system');
    if (!state.hidden.has('redlines')) shown.push('eco_redlines');
    if (state.kinds.size || !state.hidden.has('planned')) shown.push('rail_lines');
    if (!state.hidden.has('stations')) shown.push('rail_stations');
    for (const [name, x] of state.extra) if (x.visible) shown.push(name);
    const q = new URLSearchParams({ layers: shown.join(','), bbox: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(','),
      paper: $('ex-paper').value, orientation: $('ex-orientation').value, dpi: $('ex-dpi').value, format: $('ex-format').value,
      title: $('ex-title').value, lang });
    $('ex-submit').disabled = true;
    $('ex-note').textContent = t('exWorking');
    try {
      const tok = sessionStorage.getItem('gusu.token');
      const resp = await fetch('/api/maps/export?' + q, tok ? { headers: { Authorization: `Bearer ${tok}` } } : undefined);
      if (!resp.ok) throw new Error((await resp.json().catch(() => ({}))).error || resp.statusText);
      const a = document.createElement('a');
      a.href = URL.createObjectURL(await resp.blob());
      a.download = `gusu-map-${q.get('paper')}.${q.get('format')}`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      $('ex-note').textContent = t('exNote');
    } catch (err) {
      $('ex-note').textContent = t('error') + err.message;
    } finally {
      $('ex-submit').disabled = false;
    }
  });
}

// An optional basemap for deployments that have one (none by default).
async function addBasemap() {
  try {
    const cfg = await getJSON('/viewer-config.json');
    const b = cfg.basemap;
    if (!b || !b.tiles || !b.tiles.length) return;
    map.addSource('basemap', { type: 'raster', tiles: b.tiles, tileSize: b.tile_size || 256, attribution: b.attribution || '' });
    map.addLayer({ id: 'basemap', type: 'raster', source: 'basemap', paint: { 'raster-opacity': 0.8 } }, 'town_system-fill');
    // A raster basemap replaces gusu's own context layers.
    state.hidden.add('water');
  } catch (err) {
    setError(err.message);
  }
}

// The sources' attribution is long: keep it behind MapLibre's ⓘ button
// (one tap away) instead of covering the bottom of the map.
function collapseAttribution() {
  const el = map.getContainer().querySelector('.maplibregl-ctrl-attrib');
  if (el) el.classList.remove('maplibregl-compact-show');
}

map.on('load', async () => {
  collapseAttribution();
  await addBasemap();
  applyFilters();
  renderPanel();
  await syncCatalog();
  loadMetroLines();
  setupUpload({ map, t, onCatalogChange: syncCatalog });
  setupIsochrones({ map, t });
  setupLifeCircles({ map, t, lang: () => lang });
  setupExport();
  indicatorsPanel = setupIndicators({ map, t, lang: () => lang });
  setupReview({ map, t, onCatalogChange: syncCatalog });
  setInterval(syncCatalog, 30000);
  window.addEventListener('focus', syncCatalog);
});
map.on('error', (e) => setError(e.error && e.error.message ? e.error.message : 'map error'));
