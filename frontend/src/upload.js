// The upload panel: GIS staff send a file, see the report, see red-line
// conflicts on the map, and restore earlier versions.
import { getJSON, escapeHTML } from './common.js';

const NEW = '__new__';

export function setupUpload({ map, t, onCatalogChange }) {
  const $ = (id) => document.getElementById(id);
  const token = $('up-token');
  token.value = sessionStorage.getItem('gusu.token') || '';
  token.addEventListener('change', () => sessionStorage.setItem('gusu.token', token.value.trim()));
  const layerSel = $('up-layer');

  async function fillLayers(selected) {
    const cat = await getJSON('/api/layers', { headers: authHeader() });
    layerSel.innerHTML = cat.layers.filter((l) => l.kind !== 'synthetic')
      .map((l) => `<option value="${escapeHTML(l.name)}">${escapeHTML(l.title)} (${escapeHTML(l.name)})</option>`).join('') +
      `<option value="${NEW}">${escapeHTML(t('newLayer'))}</option>`;
    if (selected) layerSel.value = selected;
    $('up-new').hidden = layerSel.value !== NEW;
    showVersions();
  }
  layerSel.addEventListener('change', () => { $('up-new').hidden = layerSel.value !== NEW; showVersions(); });
  $('upload').addEventListener('toggle', () => { if ($('upload').open) fillLayers(); });

  function authHeader() {
    const v = token.value.trim();
    return v ? { Authorization: `Bearer ${v}` } : {};
  }

  function send(method, url, body, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      for (const [k, v] of Object.entries(authHeader())) xhr.setRequestHeader(k, v);
      if (onProgress) xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
      xhr.onload = () => {
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
        if (xhr.status >= 200 && xhr.status < 300) resolve(data);
        else reject(new Error(data && data.error ? `${xhr.status}: ${data.error}` : `HTTP ${xhr.status}`));
      };
      xhr.onerror = () => reject(new Error(t('networkError')));
      xhr.send(body);
    });
  }

  $('upload-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const report = $('up-report');
    const progress = $('up-progress');
    const file = $('up-file').files[0];
    if (!file) return;
    sessionStorage.setItem('gusu.token', token.value.trim());
    $('up-submit').disabled = true;
    report.innerHTML = '';
    try {
      let layer = layerSel.value;
      if (layer === NEW) {
        layer = $('up-name').value.trim();
        await send('POST', '/api/layers', JSON.stringify({ name: layer, title: $('up-title').value.trim() || layer, kind: 'boundary' }));
      }
      const params = new URLSearchParams();
      if ($('up-crs').value) params.set('crs', $('up-crs').value);
      if ($('up-append').checked) params.set('mode', 'append');
      if ($('up-review').checked) params.set('review', 'true');
      const form = new FormData();
      form.append('file', file);
      progress.hidden = false;
      progress.value = 0;
      const rep = await send('POST', `/api/layers/${encodeURIComponent(layer)}/uploads?${params}`, form, (f) => { progress.value = Math.round(f * 100); });
      progress.value = 100;
      report.innerHTML = reportHTML(rep);
      await highlightConflicts(layer, rep);
      await onCatalogChange();
      await fillLayers(layer);
    } catch (err) {
      report.innerHTML = `<p class="error" role="alert">${escapeHTML(t('uploadFailed'))} ${escapeHTML(err.message)}</p>`;
    } finally {
      $('up-submit').disabled = false;
      setTimeout(() => { progress.hidden = true; }, 1500);
    }
  });

  function reportHTML(r) {
    const rows = [
      [t('rVersion'), r.version], [t('rFormat'), r.format], [t('rCRS'), `${r.crs} — ${r.crs_source}`],
      [t('rRead'), r.features_read], [t('rWritten'), r.features_written], [t('rRepaired'), r.repaired.length],
      [t('rSkipped'), r.skipped.length], [t('rDiff'), `+${r.diff.added} −${r.diff.removed} ~${r.diff.changed}`],
    ];
    if (r.total_area_m2 != null) rows.push([t('rArea'), `${(r.total_area_m2 / 1e6).toFixed(2)} km²`]);
    let html = r.proposal ? `<p class="note" role="status">${escapeHTML(t('upProposed').replace('{id}', r.proposal.id))}</p>` : '';
    html += `<h3>${escapeHTML(t('reportTitle'))}</h3><table class="report">` +
      rows.map(([k, v]) => `<tr><th>${escapeHTML(k)}</th><td>${escapeHTML(v)}</td></tr>`).join('') + '</table>';
    if (r.repaired.length) html += `<p>${escapeHTML(t('rRepairedList'))} ${r.repaired.map((i) => '#' + i).join(', ')}</p>`;
    if (r.skipped.length) html += `<ul class="skipped">${r.skipped.map((s) => `<li>#${s.index}: ${escapeHTML(s.reason)}</li>`).join('')}</ul>`;
    const rc = r.redline_check;
    if (rc && rc.checked) {
      html += `<h4 class="${rc.overlaps.length ? 'conflict' : ''}">${escapeHTML(t('rRedlines'))}: ${rc.features_overlapping}</h4>`;
      if (rc.note) html += `<p class="note">${escapeHTML(rc.note)}</p>`;
      html += `<ul class="overlaps">${rc.overlaps.map((o) => `<li>${escapeHTML(o.name || '#' + o.feature_id)}: ${(o.overlap_m2 / 1e6).toFixed(3)} km² (${(o.share * 100).toFixed(1)}%)</li>`).join('')}</ul>`;
    } else if (rc && rc.note) {
      html += `<p class="note">${escapeHTML(rc.note)}</p>`;
    }
    return html;
  }

  // Red-line conflicts: the overlapping features, outlined in red and framed.
  async function highlightConflicts(layer, rep) {
    const ids = new Set((rep.redline_check && rep.redline_check.overlaps || []).map((o) => o.feature_id));
    const fc = await getJSON(`/api/layers/${encodeURIComponent(layer)}/features?limit=10000`, { headers: authHeader() });
    const hits = { type: 'FeatureCollection', features: fc.features.filter((f) => ids.has(f.id)) };
    if (map.getSource('upload-conflicts')) map.getSource('upload-conflicts').setData(hits);
    else {
      map.addSource('upload-conflicts', { type: 'geojson', data: hits });
      map.addLayer({ id: 'upload-conflicts', type: 'line', source: 'upload-conflicts', paint: { 'line-color': '#e00000', 'line-width': 3, 'line-dasharray': [2, 1] } });
    }
    if (rep.bounds) map.fitBounds([[rep.bounds[0], rep.bounds[1]], [rep.bounds[2], rep.bounds[3]]], { padding: 40, duration: 0 });
  }

  async function showVersions() {
    const box = $('up-versions');
    const layer = layerSel.value;
    if (!layer || layer === NEW) { box.innerHTML = ''; return; }
    try {
      const v = await getJSON(`/api/layers/${encodeURIComponent(layer)}/versions`, { headers: authHeader() });
      box.innerHTML = `<h4>${escapeHTML(t('history'))}</h4><ol class="versions" reversed>` + v.versions.map((x) =>
        `<li>v${x.version} · ${escapeHTML(x.action)} · ${escapeHTML(new Date(x.created_at).toLocaleString())}` +
        `${x.file_name ? ' · ' + escapeHTML(x.file_name) : ''}${x.feature_count != null ? ' · ' + x.feature_count : ''}` +
        (x.current ? ` <strong>${escapeHTML(t('current'))}</strong>` : ` <button type="button" data-restore="${x.version}">${escapeHTML(t('restore'))}</button>`) +
        '</li>').join('') + '</ol>';
      for (const b of box.querySelectorAll('button[data-restore]')) {
        b.addEventListener('click', async () => {
          try {
            await send('POST', `/api/layers/${encodeURIComponent(layer)}/versions/${b.dataset.restore}/restore`);
            await showVersions();
            await onCatalogChange();
          } catch (err) {
            box.insertAdjacentHTML('beforeend', `<p class="error" role="alert">${escapeHTML(err.message)}</p>`);
          }
        });
      }
    } catch (err) {
      box.innerHTML = `<p class="error">${escapeHTML(err.message)}</p>`;
    }
  }
}
