// The review panel: reviewers see the queue of proposed versions, each
// one's report and feature-by-feature diff, the proposed features on the
// map beside the current layer (toggle), approve or reject it with a
// comment, and read the layer's audit history.
import { getJSON, escapeHTML } from './common.js';

export function setupReview({ map, t, onCatalogChange }) {
  const $ = (id) => document.getElementById(id);
  const token = $('rv-token');
  const authHeader = () => {
    const v = token.value.trim();
    return v ? { Authorization: `Bearer ${v}` } : {};
  };
  $('review').addEventListener('toggle', () => {
    if (!$('review').open) return;
    if (!token.value) token.value = sessionStorage.getItem('gusu.token') || '';
  });
  token.addEventListener('change', () => sessionStorage.setItem('gusu.token', token.value.trim()));

  async function post(url, body) {
    const resp = await fetch(url, { method: 'POST', headers: { ...authHeader(), 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const data = await resp.json().catch(() => null);
    if (!resp.ok) throw new Error(data && data.error ? `${resp.status}: ${data.error}` : `HTTP ${resp.status}`);
    return data;
  }

  async function loadQueue() {
    const box = $('rv-queue');
    $('rv-detail').innerHTML = '';
    try {
      const q = await getJSON('/api/proposals?status=proposed', { headers: authHeader() });
      if (!q.proposals.length) { box.innerHTML = `<li>${escapeHTML(t('rvNone'))}</li>`; return; }
      box.innerHTML = q.proposals.map((p) => `<li><button type="button" data-proposal="${p.id}">#${p.id} · ${escapeHTML(p.layer)} · ` +
        `${escapeHTML(p.report.file_name || '')} · ${escapeHTML(p.created_by)} · ${escapeHTML(new Date(p.created_at).toLocaleString())}</button></li>`).join('');
      for (const b of box.querySelectorAll('button[data-proposal]')) b.addEventListener('click', () => showProposal(b.dataset.proposal));
    } catch (err) {
      box.innerHTML = `<li class="error" role="alert">${escapeHTML(err.message)}</li>`;
    }
  }
  $('rv-load').addEventListener('click', loadQueue);

  function changesHTML(d) {
    const ch = d.changes;
    let html = `<p>${escapeHTML(t('rDiff'))}: +${d.added} −${d.removed} ~${d.changed}</p>`;
    if (!ch) return html;
    if (ch.note) html += `<p class="note">${escapeHTML(ch.note)}</p>`;
    html += '<ul class="changes">';
    for (const k of ch.added) html += `<li class="added">+ ${escapeHTML(k)}</li>`;
    for (const k of ch.removed) html += `<li class="removed">− ${escapeHTML(k)}</li>`;
    for (const c of ch.changed) {
      const attrs = Object.entries(c.attributes).map(([name, [a, b]]) =>
        `${escapeHTML(name)}: ${escapeHTML(JSON.stringify(a))} → ${escapeHTML(JSON.stringify(b))}`).join('; ');
      html += `<li class="changed">~ ${escapeHTML(c.key)}: ${attrs}${c.geometry_changed ? ' · ' + escapeHTML(t('rvGeomChanged')) : ''}</li>`;
    }
    return html + '</ul>';
  }

  function checksHTML(r) {
    const checks = [r.redline_check, ...(r.conformity || [])].filter((c) => c && c.checked);
    return checks.map((c) => `<p class="${c.features_overlapping ? 'conflict' : ''}">${escapeHTML(t('rvAgainst'))} ${escapeHTML(c.against)}: ` +
      `${c.features_overlapping} (${(c.total_overlap_m2 / 1e6).toFixed(3)} km²)</p>`).join('');
  }

  async function showProposal(id) {
    const box = $('rv-detail');
    try {
      const p = await getJSON(`/api/proposals/${id}`, { headers: authHeader() });
      const r = p.report;
      box.innerHTML = `<h4>${escapeHTML(t('rvProposal'))} #${p.id} · ${escapeHTML(p.layer)}</h4>` +
        `<p>${escapeHTML(r.file_name || '')} · ${escapeHTML(r.format)} · ${r.features_written} ${escapeHTML(t('rvFeatures'))} · ${escapeHTML(p.created_by)}</p>` +
        changesHTML(r.diff) + checksHTML(r) +
        `<p><label class="inline"><input type="checkbox" id="rv-show"> ${escapeHTML(t('rvShow'))}</label></p>` +
        `<p><label for="rv-comment">${escapeHTML(t('rvComment'))}</label><br><textarea id="rv-comment" rows="2"></textarea></p>` +
        `<button type="button" id="rv-approve">${escapeHTML(t('rvApprove'))}</button> <button type="button" id="rv-reject">${escapeHTML(t('rvReject'))}</button>` +
        '<p id="rv-result" aria-live="polite"></p>';
      $('rv-show').addEventListener('change', () => showOnMap(p, $('rv-show').checked));
      $('rv-approve').addEventListener('click', () => decide(p, 'approve'));
      $('rv-reject').addEventListener('click', () => decide(p, 'reject'));
      await showAudit(p.layer);
    } catch (err) {
      box.innerHTML = `<p class="error" role="alert">${escapeHTML(err.message)}</p>`;
    }
  }

  // The proposed features over the current layer, in purple, framed.
  async function showOnMap(p, on) {
    if (!on) {
      for (const id of ['review-proposed-fill', 'review-proposed-line']) if (map.getLayer(id)) map.setLayoutProperty(id, 'visibility', 'none');
      return;
    }
    const fc = await getJSON(`/api/proposals/${p.id}/features?limit=10000`, { headers: authHeader() });
    if (map.getSource('review-proposed')) map.getSource('review-proposed').setData(fc);
    else {
      map.addSource('review-proposed', { type: 'geojson', data: fc });
      map.addLayer({ id: 'review-proposed-fill', type: 'fill', source: 'review-proposed', filter: ['==', ['geometry-type'], 'Polygon'], paint: { 'fill-color': '#7b2cbf', 'fill-opacity': 0.25 } });
      map.addLayer({ id: 'review-proposed-line', type: 'line', source: 'review-proposed', paint: { 'line-color': '#7b2cbf', 'line-width': 2.5 } });
    }
    for (const id of ['review-proposed-fill', 'review-proposed-line']) map.setLayoutProperty(id, 'visibility', 'visible');
    const b = p.report.bounds;
    if (b) map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 40, duration: 0 });
  }

  async function decide(p, action) {
    const text = $('rv-comment').value.trim();
    try {
      const res = await post(`/api/proposals/${p.id}/${action}`, action === 'approve' ? { comment: text } : { reason: text });
      $('rv-result').textContent = `${t(action === 'approve' ? 'rvApproved' : 'rvRejected')}${res.version ? ' v' + res.version : ''}`;
      showOnMap(p, false);
      await onCatalogChange();
      await showAudit(p.layer);
    } catch (err) {
      $('rv-result').innerHTML = `<span class="error" role="alert">${escapeHTML(err.message)}</span>`;
    }
  }

  async function showAudit(layer) {
    const box = $('rv-audit');
    try {
      const a = await getJSON(`/api/layers/${encodeURIComponent(layer)}/audit?limit=50`, { headers: authHeader() });
      box.innerHTML = `<h4>${escapeHTML(t('rvAudit'))} · ${escapeHTML(layer)}</h4><ol class="audit">` + a.entries.map((e) =>
        `<li>${escapeHTML(new Date(e.at).toLocaleString())} · ${escapeHTML(e.actor)} · <b>${escapeHTML(e.action)}</b>` +
        `${e.version ? ' · v' + e.version : ''}${e.detail.comment ? ' · ' + escapeHTML(e.detail.comment) : ''}${e.detail.reason ? ' · ' + escapeHTML(e.detail.reason) : ''}</li>`).join('') + '</ol>';
    } catch (err) {
      box.innerHTML = `<p class="error">${escapeHTML(err.message)}</p>`;
    }
  }
}
