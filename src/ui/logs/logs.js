// /logs: request list from GET /api/logs (keyset "load more"), detail from GET /api/logs/:id in a
// side panel addressed by the URL hash (/logs#<id>, so a request can be linked to). Both calls are
// behind the admin guard: common.js sends the stored token and asks for one on 401. Data reaches
// the DOM through textContent only.
import { $, askToken, el, fmtInt, fmtMs, fmtTime, getJson, initTheme, outcomeBadge, text } from '/ui/shared/common.js';

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 200;
const ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FILTER_KEYS = ['model', 'outcome', 'status', 'search', 'range', 'start', 'end'];

const state = {
  filters: {},
  limit: DEFAULT_LIMIT,
  /** The time bounds of the current list, fixed when it was (re)loaded so "load more" continues it. */
  window: { start: null, end: null },
  cursor: null,
  shown: 0,
  total: null,
  totalAtLeast: null,
  seq: 0,
  detailSeq: 0,
  models: new Set(),
};

// ---------------------------------------------------------------------------------------------
// Filters ⇄ form ⇄ URL (?model=&outcome=&status=&search=&range=&start=&end=&limit=)

function readUrl() {
  const q = new URLSearchParams(location.search);
  state.filters = {};
  for (const key of FILTER_KEYS) {
    const value = q.get(key);
    if (value) state.filters[key] = value;
  }
  const limit = Number(q.get('limit'));
  state.limit = Number.isInteger(limit) && limit >= 1 && limit <= MAX_LIMIT ? limit : DEFAULT_LIMIT;
}

function writeUrl() {
  const q = new URLSearchParams();
  for (const key of FILTER_KEYS) if (state.filters[key]) q.set(key, state.filters[key]);
  if (state.limit !== DEFAULT_LIMIT) q.set('limit', String(state.limit));
  const search = q.toString();
  history.replaceState(null, '', `${location.pathname}${search ? `?${search}` : ''}${location.hash}`);
}

/** ISO → the value a datetime-local input shows (local time). */
function toLocalInput(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fillForm() {
  const f = $('filters').elements;
  const v = state.filters;
  f.model.value = v.model || '';
  f.outcome.value = v.outcome || '';
  f.status.value = v.status || '';
  f.search.value = v.search || '';
  f.range.value = v.range || (v.start || v.end ? 'custom' : '');
  f.start.value = v.start ? toLocalInput(v.start) : '';
  f.end.value = v.end ? toLocalInput(v.end) : '';
  showCustomRange();
}

function readForm() {
  const f = $('filters').elements;
  const filters = {};
  for (const key of ['model', 'outcome', 'status', 'search', 'range']) {
    const value = f[key].value.trim();
    if (value) filters[key] = value;
  }
  if (filters.range === 'custom') {
    // datetime-local values are local wall-clock times; the API wants ISO instants.
    for (const key of ['start', 'end']) {
      const d = f[key].value ? new Date(f[key].value) : null;
      if (d && !Number.isNaN(d.getTime())) filters[key] = d.toISOString();
    }
  }
  return filters;
}

function showCustomRange() {
  const custom = $('filters').elements.range.value === 'custom';
  for (const label of document.querySelectorAll('.custom-range')) label.hidden = !custom;
}

function apiParams() {
  const p = new URLSearchParams();
  const v = state.filters;
  for (const key of ['model', 'outcome', 'status', 'search']) if (v[key]) p.set(key, v[key]);
  if (state.window.start) p.set('start', state.window.start);
  if (state.window.end) p.set('end', state.window.end);
  return p;
}

function fixWindow() {
  const v = state.filters;
  const hours = Number(v.range);
  if (v.range && v.range !== 'custom' && hours > 0) {
    state.window = { start: new Date(Date.now() - hours * 3_600_000).toISOString(), end: null };
  } else if (v.range === 'custom' || (!v.range && (v.start || v.end))) {
    state.window = { start: v.start || null, end: v.end || null };
  } else {
    state.window = { start: null, end: null };
  }
}

// ---------------------------------------------------------------------------------------------
// List

function showStatus(message, kind) {
  const status = $('status');
  status.hidden = !message;
  status.textContent = message || '';
  status.className = `banner ${kind || 'info'}`;
}

/** What a failed call means for the user, in their terms. */
function explain(error) {
  if (error.status === 401) return ['The logs API needs the admin token. Use “Admin token…” to enter it.', 'warn'];
  if (error.code === 'logs_unavailable') return ['Database logging is disabled, so there are no request logs to show.', 'warn'];
  return [error.message, 'error'];
}

function emptyRow(message) {
  return el('tr', null, el('td', { className: 'empty', colSpan: 11 }, message));
}

async function loadList({ append = false } = {}) {
  const seq = ++state.seq;
  if (!append) fixWindow();
  const params = apiParams();
  params.set('limit', String(state.limit));
  if (append && state.cursor) params.set('cursor', state.cursor);
  else params.set('total', '1');
  const more = $('more');
  more.disabled = true;
  more.textContent = 'Loading…';
  try {
    const page = await getJson(`/api/logs?${params}`, { admin: true });
    // Filters changed while this was in flight: a newer load owns the table.
    if (seq !== state.seq) return;
    const body = $('log-table').tBodies[0];
    if (!append) {
      body.replaceChildren();
      state.shown = 0;
      state.total = page.total;
      state.totalAtLeast = page.total_at_least ?? null;
    }
    body.append(...page.data.map(row));
    state.shown += page.data.length;
    state.cursor = page.next_cursor;
    if (state.shown === 0) body.replaceChildren(emptyRow('No requests match these filters'));
    more.hidden = !page.has_more;
    $('count').textContent =
      state.total !== null
        ? `(${fmtInt(state.shown)} of ${fmtInt(state.total)})`
        : state.totalAtLeast !== null
          ? `(${fmtInt(state.shown)} of ${fmtInt(state.totalAtLeast)}+)`
          : `(${fmtInt(state.shown)})`;
    for (const r of page.data) state.models.add(r.model_name);
    renderModelNames();
    markSelected();
    showStatus('');
  } catch (error) {
    if (seq !== state.seq) return;
    const [message, kind] = explain(error);
    showStatus(message, kind);
    if (error.status === 401 || error.status === 403) $('token-button').hidden = false;
    if (!append) $('log-table').tBodies[0].replaceChildren(emptyRow('—'));
  } finally {
    if (seq === state.seq) {
      more.disabled = false;
      more.textContent = 'Load more';
    }
  }
}

function row(r) {
  const td = (value, className) => el('td', className ? { className } : null, value);
  const tokens = r.total_tokens === null || r.total_tokens === undefined ? null : r.total_tokens;
  const tokenCell = td(fmtInt(tokens), 'num');
  if (tokens !== null) tokenCell.title = `${fmtInt(r.prompt_tokens)} prompt · ${fmtInt(r.completion_tokens)} completion`;
  const tr = el(
    'tr',
    { dataset: { id: r.id, model: r.model_name, outcome: r.outcome }, tabIndex: 0 },
    td(el('a', { href: `#${r.id}`, title: r.request_time }, fmtTime(r.request_time)), 'time'),
    td(r.model_name, 'model'),
    td(outcomeBadge(r.outcome)),
    td(text(r.status_code), 'num'),
    td(fmtMs(r.duration_ms), 'num'),
    td(fmtMs(r.ttfb_ms), 'num'),
    td(text(r.backend_name)),
    td(r.is_stream ? 'yes' : 'no'),
    tokenCell,
    td(text(r.finish_reason)),
    td(text(r.client_key)),
  );
  const open = () => {
    if (location.hash === `#${r.id}`) openDetail(r.id);
    else location.hash = r.id;
  };
  tr.addEventListener('click', (event) => {
    // The time link navigates to the hash by itself.
    if (event.target.closest('a')) return;
    open();
  });
  tr.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.target.closest('a')) open();
  });
  return tr;
}

function renderModelNames() {
  $('model-names').replaceChildren(...[...state.models].sort().map((name) => el('option', { value: name })));
}

function markSelected() {
  const id = currentId();
  for (const tr of $('log-table').tBodies[0].rows) {
    if (tr.dataset.id) tr.setAttribute('aria-selected', String(tr.dataset.id === id));
  }
}

// ---------------------------------------------------------------------------------------------
// Detail panel

function currentId() {
  const id = decodeURIComponent(location.hash.slice(1));
  return ID_RE.test(id) ? id : null;
}

function onHash() {
  const id = currentId();
  markSelected();
  if (id) openDetail(id);
  else hideDetail();
}

async function openDetail(id) {
  const seq = ++state.detailSeq;
  $('detail').hidden = false;
  $('detail-title').textContent = 'Request';
  $('detail-body').replaceChildren(el('p', { className: 'muted' }, 'Loading…'));
  try {
    const d = await getJson(`/api/logs/${encodeURIComponent(id)}`, { admin: true });
    if (seq !== state.detailSeq) return;
    renderDetail(d);
  } catch (error) {
    if (seq !== state.detailSeq) return;
    const [message] = explain(error);
    $('detail-body').replaceChildren(el('p', { className: 'error' }, message));
  }
  $('detail-close').focus({ preventScroll: true });
}

function hideDetail() {
  state.detailSeq++;
  $('detail').hidden = true;
}

function closeDetail() {
  const id = currentId();
  hideDetail();
  // Drop the hash without a hashchange (the panel is already closed) but keep the history entry.
  if (location.hash) history.pushState(null, '', `${location.pathname}${location.search}`);
  markSelected();
  if (id) document.querySelector(`#log-table tr[data-id="${CSS.escape(id)}"]`)?.focus({ preventScroll: false });
}

function isTruncated(value) {
  return value !== null && typeof value === 'object' && value._truncated === true;
}

/** Pretty JSON for objects and JSON strings; other strings as they are. */
function pretty(value) {
  if (value === null || value === undefined) return '—';
  if (isTruncated(value)) return `${value._preview}…`;
  if (typeof value === 'string') {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

function code(value) {
  return el('pre', { className: 'code' }, pretty(value));
}

function truncationNote(value) {
  return isTruncated(value)
    ? el('p', { className: 'note' }, `Cut to its first characters: ${fmtInt(value._original_chars)} in total (raise ?max_chars= on the API to see more).`)
    : null;
}

function section(title, ...children) {
  return el('section', null, el('h3', null, title), ...children);
}

function summary(d) {
  const tokens =
    d.total_tokens === null || d.total_tokens === undefined
      ? '—'
      : `${fmtInt(d.total_tokens)} (${fmtInt(d.prompt_tokens)} prompt · ${fmtInt(d.completion_tokens)} completion)`;
  const pairs = [
    ['ID', el('span', { className: 'mono' }, d.id)],
    ['Time', `${fmtTime(d.request_time)} (${d.request_time})`],
    ['Model', d.model_name],
    ['Outcome', outcomeBadge(d.outcome)],
    ['HTTP status', text(d.status_code)],
    ['Duration', fmtMs(d.duration_ms)],
    ['TTFB', fmtMs(d.ttfb_ms)],
    ['Backend', text(d.backend_name)],
    ['Stream', d.is_stream ? 'yes' : 'no'],
    ['Finish reason', text(d.finish_reason)],
    ['Request', `${text(d.method)} ${text(d.path)}${d.query ? `?${d.query}` : ''}`],
    ['Client key', text(d.client_key)],
    ['Tokens', tokens],
  ];
  return el('dl', { className: 'summary' }, ...pairs.flatMap(([k, v]) => [el('dt', null, k), el('dd', null, v)]));
}

function routeList(d, attempts) {
  const route = Array.isArray(d.route) ? d.route : [];
  if (!route.length) return el('p', { className: 'muted' }, 'No route (the request did not reach routing).');
  const failed = new Set(attempts.filter((a) => a.error || (a.status !== null && a.status >= 400)).map((a) => a.backend));
  const tried = new Set(attempts.map((a) => a.backend));
  return el(
    'ol',
    { className: 'route' },
    ...route.map((name) => {
      const cls = name === d.backend_name ? 'chip served' : failed.has(name) ? 'chip failed' : 'chip';
      const note = name === d.backend_name ? 'served the response' : failed.has(name) ? 'failed' : tried.has(name) ? 'tried' : 'not tried';
      return el('li', null, el('span', { className: cls, title: note }, name));
    }),
  );
}

function attemptsSection(d) {
  const raw = d.backend_attempts;
  if (isTruncated(raw)) return section('Backend attempts', truncationNote(raw), code(raw));
  const attempts = Array.isArray(raw) ? raw : [];
  if (!attempts.length) return section('Backend attempts', el('p', { className: 'muted' }, 'No upstream was called.'));
  const num = (v) => el('td', { className: 'num' }, v);
  const table = el(
    'table',
    { className: 'attempts' },
    el(
      'thead',
      null,
      el('tr', null, ...['#', 'Backend', 'Try', 'Status', 'Duration', 'TTFB', 'Error'].map((h, i) => el('th', i >= 2 && i <= 5 ? { className: 'num' } : null, h))),
    ),
    el(
      'tbody',
      null,
      ...attempts.map((a, i) =>
        el(
          'tr',
          { dataset: { backend: a.backend } },
          num(String(i + 1)),
          el('td', null, text(a.backend)),
          num(text(a.attempt)),
          num(text(a.status ?? 'no response')),
          num(fmtMs(a.duration_ms)),
          num(fmtMs(a.ttfb_ms)),
          el('td', { className: a.error ? 'err' : '' }, a.error ? `${a.error_type ? `${a.error_type}: ` : ''}${a.error}` : '—'),
        ),
      ),
    ),
  );
  const responses = attempts
    .map((a, i) => {
      if (!a.response_headers && !a.response_body) return null;
      return el(
        'details',
        null,
        el('summary', null, `#${i + 1} ${a.backend} · response ${a.status ?? ''}`.trim()),
        el('div', { className: 'muted' }, text(a.url)),
        a.response_headers ? code(a.response_headers) : null,
        a.response_body ? code(a.response_body) : null,
      );
    })
    .filter(Boolean);
  return section('Backend attempts', el('div', { className: 'table-wrap' }, table), ...responses);
}

function errorsSection(d) {
  // error_logs rows carry the same errors as the row's `errors` column, plus the database's own ids.
  const logged = Array.isArray(d.error_logs) ? d.error_logs : [];
  const inline = Array.isArray(d.errors) ? d.errors : [];
  const items = logged.length
    ? logged.map((e) => ({ time: e.timestamp, type: e.error_type, message: e.error_message, backend: e.backend_name, status: e.http_status, context: e.extra_context }))
    : inline.map((e) => ({ time: e.time, type: e.type, message: e.message, backend: e.backend, status: e.http_status, context: e.context }));
  if (isTruncated(d.errors) && !logged.length) return section('Errors', truncationNote(d.errors), code(d.errors));
  if (!items.length) return null;
  return section(
    `Errors (${items.length})`,
    ...items.map((e) =>
      el(
        'div',
        { className: 'error-item' },
        el('div', { className: 'meta' }, [fmtTime(e.time), text(e.type), e.backend ? `backend ${e.backend}` : null, e.status ? `HTTP ${e.status}` : null].filter(Boolean).join(' · ')),
        el('div', { className: 'message' }, text(e.message)),
        e.context ? el('details', null, el('summary', null, 'Context'), code(e.context)) : null,
      ),
    ),
  );
}

function responseSection(d, attempts) {
  const chunks = d.stream_chunks;
  if (isTruncated(chunks)) return section('Response (stream)', truncationNote(chunks), code(chunks));
  if (Array.isArray(chunks) && chunks.length) {
    // Chunks are raw SSE text as relayed; joined they read as the stream did.
    return section(`Response (stream, ${fmtInt(chunks.length)} chunks)`, el('pre', { className: 'code' }, chunks.join('')));
  }
  const served = [...attempts].reverse().find((a) => a.backend === d.backend_name && a.response_body);
  if (served) return section('Response', code(served.response_body));
  return section('Response', el('p', { className: 'muted' }, 'No response body was captured.'));
}

function renderDetail(d) {
  $('detail-title').textContent = `${d.model_name} · ${fmtTime(d.request_time)}`;
  const attempts = Array.isArray(d.backend_attempts) ? d.backend_attempts : [];
  const truncated = Array.isArray(d.truncated_fields) ? d.truncated_fields : [];
  $('detail-body').replaceChildren(
    ...[
      section('Summary', summary(d)),
      truncated.length ? el('p', { className: 'note' }, `Shortened for display: ${truncated.join(', ')}`) : null,
      section('Route', routeList(d, attempts)),
      attemptsSection(d),
      errorsSection(d),
      section('Request headers', truncationNote(d.headers), code(d.headers)),
      section('Request body', truncationNote(d.body), code(d.body)),
      responseSection(d, attempts),
      section('Usage', code(d.usage_stats)),
    ].filter(Boolean),
  );
  $('detail-body').scrollTop = 0;
}

// ---------------------------------------------------------------------------------------------

async function loadModelNames() {
  // Offers every model with traffic in the last 30 days, not only those on the loaded page.
  try {
    const usage = await getJson('/api/usage?hours=720&bucket=day');
    for (const m of usage.historical.requests_by_model || []) state.models.add(m.model_name);
    renderModelNames();
  } catch {
    // Only the suggestions are missing; the filter still takes any name.
  }
}

function init() {
  initTheme($('theme'));
  readUrl();
  fillForm();
  if (sessionStorage.getItem('yallmp-admin-token')) $('token-button').hidden = false;
  const form = $('filters');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    state.filters = readForm();
    writeUrl();
    loadList();
  });
  form.elements.range.addEventListener('change', showCustomRange);
  for (const name of ['outcome', 'range']) {
    form.elements[name].addEventListener('change', () => {
      if (form.elements.range.value !== 'custom') form.requestSubmit();
    });
  }
  $('reset').addEventListener('click', () => {
    state.filters = {};
    fillForm();
    writeUrl();
    loadList();
  });
  $('more').addEventListener('click', () => loadList({ append: true }));
  $('token-button').addEventListener('click', async () => {
    if (await askToken()) {
      loadList();
      if (currentId()) openDetail(currentId());
    }
  });
  $('detail-close').addEventListener('click', closeDetail);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !$('detail').hidden && !document.querySelector('dialog[open]')) closeDetail();
  });
  window.addEventListener('hashchange', onHash);
  loadList();
  loadModelNames();
  onHash();
}

init();
