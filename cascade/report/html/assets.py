"""The inline stylesheet and script of the HTML reports (no external file, font or library)."""

from __future__ import annotations

CSS = """
:root { --ink:#1d2330; --muted:#5d6675; --line:#dde1e7; --bg:#f7f8fa; --ok:#2e7d4f;
  --bad:#b23b4e; --warn:#a86a12; --err:#6b4fa0; --accent:#3b6ea8; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif; color:var(--ink);
  background:var(--bg); }
header { background:#fff; border-bottom:1px solid var(--line); padding:18px 28px 12px; }
header h1 { margin:0 0 4px; font-size:21px; }
header .meta { color:var(--muted); font-size:13px; }
main { padding:8px 28px 40px; max-width:1280px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:14px 18px;
  margin:16px 0; }
h2 { font-size:16px; margin:2px 0 10px; }
h3 { font-size:14px; margin:12px 0 6px; }
table.data { border-collapse:collapse; font-size:13px; margin:4px 0 8px; }
table.data th, table.data td { border-bottom:1px solid var(--line); padding:4px 10px;
  text-align:left; vertical-align:top; }
table.data th { background:#f0f2f5; font-weight:600; position:sticky; top:0; }
table.data tr:hover td { background:#f8fafc; }
.scroll { overflow-x:auto; max-height:560px; overflow-y:auto; }
.charts { display:flex; flex-wrap:wrap; gap:18px; align-items:flex-start; }
.chart { max-width:100%; height:auto; }
.note { color:var(--muted); font-size:12.5px; }
.controls { display:flex; flex-wrap:wrap; gap:10px 18px; align-items:center; position:sticky;
  top:0; background:#fff; padding:8px 0 10px; border-bottom:1px solid var(--line); z-index:2; }
.controls label { font-size:13px; color:var(--muted); }
.controls select, .controls input { font:inherit; padding:3px 6px; border:1px solid #c8ced8;
  border-radius:5px; background:#fff; }
.seg button { font:inherit; border:1px solid #c8ced8; background:#fff; padding:3px 10px;
  cursor:pointer; margin-right:-1px; }
.seg button:first-child { border-radius:5px 0 0 5px; }
.seg button:last-child { border-radius:0 5px 5px 0; }
.seg button.on { background:var(--accent); color:#fff; border-color:var(--accent); }
#shown { font-weight:600; color:var(--ink); }
details.item { border:1px solid var(--line); border-radius:6px; margin:6px 0; background:#fff; }
details.item > summary { cursor:pointer; padding:7px 10px; list-style:none; display:flex;
  gap:10px; align-items:baseline; flex-wrap:wrap; }
details.item > summary::-webkit-details-marker { display:none; }
details.item[open] > summary { border-bottom:1px solid var(--line); background:#fafbfc; }
.badge { display:inline-block; min-width:58px; text-align:center; border-radius:10px;
  padding:0 8px; font-size:12px; font-weight:600; color:#fff; }
.badge.correct { background:var(--ok); } .badge.wrong { background:var(--bad); }
.badge.invalid { background:var(--warn); } .badge.error { background:var(--err); }
.id { font-family:ui-monospace,Menlo,monospace; font-size:12px; color:var(--muted); }
.q { flex:1 1 380px; }
.tag { font-size:11.5px; color:var(--muted); border:1px solid var(--line); border-radius:4px;
  padding:0 5px; }
.body { padding:10px 14px 12px; display:grid; grid-template-columns:minmax(0,1fr) minmax(0,1fr);
  gap:8px 22px; }
.body .full { grid-column:1 / -1; }
@media (max-width:900px) { .body { grid-template-columns:minmax(0,1fr); } }
pre { white-space:pre-wrap; word-wrap:break-word; background:#f5f6f8; border:1px solid #e6e8ec;
  border-radius:5px; padding:8px 10px; margin:2px 0 8px; max-height:340px; overflow:auto;
  font:12.5px/1.45 ui-monospace,Menlo,monospace; }
ul.choices { margin:2px 0 8px; padding-left:4px; list-style:none; }
ul.choices li.answer { font-weight:600; color:var(--ok); }
ul.choices li.chosen:not(.answer) { color:var(--bad); text-decoration:line-through; }
ul.choices li .mark { font-size:11.5px; font-weight:600; margin-left:6px; }
audio { width:100%; max-width:420px; height:34px; }
.hidden { display:none !important; }
a { color:var(--accent); }
.kv { display:grid; grid-template-columns:max-content 1fr; gap:2px 12px; font-size:13px; }
.kv dt { color:var(--muted); } .kv dd { margin:0; }
"""

SCRIPT = """
(function () {
  const state = { scorer: '__SCORER__', outcome: 'all', q: '' };
  const selects = Array.from(document.querySelectorAll('select[data-group]'));
  const items = Array.from(document.querySelectorAll('details.item'));
  function readHash() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ''));
    for (const [key, value] of params) state[key] = value;
  }
  function writeHash() {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(state)) {
      if (value && value !== 'all') params.set(key, value);
    }
    history.replaceState(null, '', '#' + params.toString());
  }
  function apply() {
    document.querySelectorAll('.seg button[data-outcome]').forEach(b =>
      b.classList.toggle('on', b.dataset.outcome === state.outcome));
    const scorerSelect = document.getElementById('scorer');
    if (scorerSelect) scorerSelect.value = state.scorer;
    document.querySelectorAll('[data-for-scorer]').forEach(el =>
      el.classList.toggle('hidden', el.dataset.forScorer !== state.scorer));
    selects.forEach(s => { s.value = state[s.dataset.group] || 'all'; });
    const query = (state.q || '').toLowerCase();
    const search = document.getElementById('search');
    if (search && search.value !== state.q) search.value = state.q || '';
    let shown = 0;
    for (const item of items) {
      const outcome = item.dataset[state.scorer];
      let visible = state.outcome === 'all' || outcome === state.outcome;
      for (const s of selects) {
        const wanted = state[s.dataset.group];
        if (wanted && wanted !== 'all' && item.dataset[s.dataset.group] !== wanted) visible = false;
      }
      if (visible && query && !item.dataset.text.includes(query)) visible = false;
      item.classList.toggle('hidden', !visible);
      const badge = item.querySelector('.badge');
      if (badge) { badge.className = 'badge ' + outcome; badge.textContent = outcome; }
      if (visible) shown += 1;
    }
    const counter = document.getElementById('shown');
    if (counter) counter.textContent = shown + ' of ' + items.length + ' items';
    document.body.dataset.shown = String(shown);
  }
  document.querySelectorAll('.seg button[data-outcome]').forEach(b =>
    b.addEventListener('click', () => {
      state.outcome = b.dataset.outcome; writeHash(); apply();
    }));
  const scorerSelect = document.getElementById('scorer');
  if (scorerSelect) scorerSelect.addEventListener('change', () => {
    state.scorer = scorerSelect.value; writeHash(); apply(); });
  selects.forEach(s => s.addEventListener('change', () => {
    state[s.dataset.group] = s.value; writeHash(); apply(); }));
  const search = document.getElementById('search');
  if (search) {
    search.addEventListener('input', () => { state.q = search.value; writeHash(); apply(); });
  }
  window.addEventListener('hashchange', () => { readHash(); apply(); });
  readHash();
  apply();
  const target = new URLSearchParams(location.hash.replace(/^#/, '')).get('item');
  if (target) {
    const el = document.getElementById('item-' + target);
    if (el) { el.open = true; el.classList.remove('hidden'); el.scrollIntoView(); }
  }
})();
"""
