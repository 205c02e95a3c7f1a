// The plan-monitoring panel: each spatial indicator with its value, the
// plan's 2020 figure and 2025 target, status and caveats. Clicking one
// highlights the features it counts.
import { getJSON, escapeHTML } from './common.js';

// What each indicator counts, as a source layer and filter of the style's source.
const COUNTS = {
  redline_share: { layer: 'eco_redlines', filter: null },
  rail_length: { layer: 'rail_lines', filter: ['in', ['get', 'kind'], ['literal', ['metro', 'tram']]] },
  town_system: { layer: 'town_system', filter: null },
  city_circle_45: { layer: 'town_system', names: true },
};

export function setupIndicators({ map, t, lang }) {
  const box = document.getElementById('ind-list');
  let data = null;
  let active = null;

  async function load() {
    try {
      data = await getJSON('/api/indicators');
      render();
    } catch (err) {
      box.innerHTML = `<p class="error">${escapeHTML(err.message)}</p>`;
    }
  }

  function fmt(v, unit) {
    return v == null ? '–' : `${v}${unit === '%' ? '%' : ' ' + unit}`;
  }

  function render() {
    const en = lang() === 'en';
    box.innerHTML = data.indicators.map((i) => `
      <button type="button" class="indicator ${i.status}${active === i.id ? ' active' : ''}" data-id="${escapeHTML(i.id)}" aria-pressed="${active === i.id}">
        <span class="ind-name">${escapeHTML(en ? i.name_en : i.name_zh)}</span>
        <span class="ind-value">${escapeHTML(fmt(i.value, i.unit))}</span>
        <span class="ind-plan">${escapeHTML(t('indBaseline'))} ${escapeHTML(fmt(i.baseline_2020, i.unit))} · ${escapeHTML(t('indTarget'))} ${escapeHTML(fmt(i.target_2025, i.unit))}</span>
        <span class="ind-status">${escapeHTML(t('st_' + i.status))}</span>
        ${((lang() !== 'en' && i.caveats_zh) || i.caveats).map((c) => `<span class="ind-caveat">⚠ ${escapeHTML(c)}</span>`).join('')}
      </button>`).join('') + `<p class="note">${escapeHTML(data.plan_source)}</p>`;
    for (const b of box.querySelectorAll('button.indicator')) {
      b.addEventListener('click', () => highlight(b.dataset.id));
    }
  }

  function highlight(id) {
    for (const l of ['ind-highlight-line', 'ind-highlight-point']) if (map.getLayer(l)) map.removeLayer(l);
    if (active === id) { active = null; render(); return; }
    active = id;
    const c = COUNTS[id];
    const ind = data.indicators.find((i) => i.id === id);
    let filter = c.filter;
    if (c.names) filter = ['in', ['get', 'name_zh'], ['literal', ind.counted || []]];
    const base = { source: 'gusu', 'source-layer': c.layer };
    map.addLayer({ ...base, id: 'ind-highlight-line', type: 'line', ...(filter ? { filter: ['all', ['!=', ['geometry-type'], 'Point'], filter] } : { filter: ['!=', ['geometry-type'], 'Point'] }),
      paint: { 'line-color': '#ffb000', 'line-width': 4 } });
    map.addLayer({ ...base, id: 'ind-highlight-point', type: 'circle', ...(filter ? { filter: ['all', ['==', ['geometry-type'], 'Point'], filter] } : { filter: ['==', ['geometry-type'], 'Point'] }),
      paint: { 'circle-color': '#ffb000', 'circle-radius': 7, 'circle-stroke-color': '#7a4f00', 'circle-stroke-width': 1.5 } });
    render();
  }

  document.getElementById('ind').addEventListener('toggle', (e) => { if (e.target.open) load(); });
  return { rerender: () => data && render(), reload: load };
}
