(function () {
  const state = { scorer: {{ scorer|tojson }}, outcome: 'all', q: '' };
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
