// /usage: realtime counters and historical usage from GET /api/usage, charts drawn with uPlot
// (served by the proxy at /ui/vendor/uplot.js, loaded before this module). Data reaches the DOM
// through textContent only; chart labels are drawn on canvas.
import { $, cssVar, el, fmtDuration, fmtInt, fmtMs, fmtPct, fmtTime, getJson, initTheme } from '/ui/shared/common.js';

const REFRESH_MS = 10_000;
const WINDOWS = [
  { label: '1h', hours: 1 },
  { label: '6h', hours: 6 },
  { label: '24h', hours: 24 },
  { label: '7d', hours: 168 },
  { label: '30d', hours: 720 },
];
const BUCKET_HOURS = { minute: 1 / 60, hour: 1, day: 24 };
/** The API refuses windows of more buckets than this (src/routes/usage.ts). */
const MAX_BUCKETS = 2000;
/** Error rates above this are highlighted in the table. */
const HIGH_ERROR_RATE = 0.05;

const state = {
  hours: 24,
  bucket: 'auto',
  model: '',
  /** Every model seen in an unfiltered answer, so the filter keeps its options while filtering. */
  models: new Set(),
  data: null,
  seq: 0,
  loading: false,
};

/** name → { plot, key, height }; a chart is rebuilt when its key (theme, models) changes. */
const charts = new Map();

// ---------------------------------------------------------------------------------------------
// Controls and URL state (?hours=&bucket=&model= so a view can be bookmarked or shared)

function readUrl() {
  const q = new URLSearchParams(location.search);
  const hours = Number(q.get('hours'));
  if (WINDOWS.some((w) => w.hours === hours)) state.hours = hours;
  const bucket = q.get('bucket');
  if (bucket && bucket in BUCKET_HOURS && bucketAllowed(bucket, state.hours)) state.bucket = bucket;
  state.model = q.get('model') || '';
}

function writeUrl() {
  const q = new URLSearchParams();
  if (state.hours !== 24) q.set('hours', String(state.hours));
  if (state.bucket !== 'auto') q.set('bucket', state.bucket);
  if (state.model) q.set('model', state.model);
  const search = q.toString();
  history.replaceState(null, '', search ? `?${search}` : location.pathname);
}

function bucketAllowed(bucket, hours) {
  return bucket === 'auto' || hours / BUCKET_HOURS[bucket] <= MAX_BUCKETS;
}

function renderControls() {
  $('windows').replaceChildren(
    ...WINDOWS.map((w) =>
      el(
        'button',
        {
          type: 'button',
          'aria-pressed': String(w.hours === state.hours),
          dataset: { hours: String(w.hours) },
          on: { click: () => setWindow(w.hours) },
        },
        w.label,
      ),
    ),
  );
  for (const option of $('bucket').options) option.disabled = !bucketAllowed(option.value, state.hours);
  $('bucket').value = state.bucket;
  renderModelOptions();
}

function renderModelOptions() {
  const names = [...state.models].sort((a, b) => a.localeCompare(b));
  if (state.model && !state.models.has(state.model)) names.unshift(state.model);
  $('model').replaceChildren(
    el('option', { value: '' }, 'All models'),
    ...names.map((name) => el('option', { value: name }, name)),
  );
  $('model').value = state.model;
}

function setWindow(hours) {
  state.hours = hours;
  if (!bucketAllowed(state.bucket, hours)) state.bucket = 'auto';
  changed();
}

function changed() {
  writeUrl();
  renderControls();
  refresh();
}

// ---------------------------------------------------------------------------------------------
// Loading

async function refresh() {
  const seq = ++state.seq;
  const params = new URLSearchParams({ hours: String(state.hours) });
  if (state.bucket !== 'auto') params.set('bucket', state.bucket);
  if (state.model) params.set('model', state.model);
  state.loading = true;
  try {
    const data = await getJson(`/api/usage?${params}`);
    // A slower answer for controls the user has since changed must not overwrite a newer one.
    if (seq !== state.seq) return;
    state.data = data;
    render(data);
    $('updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    if (seq !== state.seq) return;
    showStatus(`Could not load usage: ${error.message}`, 'error');
  } finally {
    if (seq === state.seq) state.loading = false;
  }
}

function showStatus(message, kind) {
  const status = $('status');
  status.hidden = !message;
  status.textContent = message || '';
  status.className = `banner ${kind || 'info'}`;
}

// ---------------------------------------------------------------------------------------------
// Rendering

function render(data) {
  renderRealtime(data.realtime, data.generated_at);
  const h = data.historical;
  $('historical').dataset.state = h.status;
  const w = h.window;
  $('window-text').textContent =
    `${fmtTime(w.start)} – ${fmtTime(w.end)} · ${w.bucket} buckets${w.model ? ` · model ${w.model}` : ''}`;

  if (h.status === 'unavailable') {
    showStatus(
      'Historical usage is unavailable: database logging is off (database.enabled: false). ' +
        'The counters above are live; enable the database to keep history.',
      'warn',
    );
  } else if (h.status === 'error') {
    showStatus(`Historical usage could not be read from the database: ${h.message || 'unknown error'}`, 'error');
  } else {
    showStatus('');
  }
  if (h.status !== 'available') {
    renderTotals(null);
    renderTable([]);
    for (const name of ['trend', 'latency', 'tokens']) clearChart(name, h.status === 'error' ? 'Database error' : 'No database');
    return;
  }

  if (!state.model) {
    for (const m of h.requests_by_model) state.models.add(m.model_name);
    renderModelOptions();
  }
  renderTotals(h.total_stats);
  const rows = mergeModels(h);
  renderTable(rows);
  drawTrend(h);
  drawLatency(rows);
  drawTokens(rows);
}

function setCard(container, key, value, sub) {
  const card = container.querySelector(`[data-key="${key}"]`);
  card.querySelector('.value').textContent = value;
  const subEl = card.querySelector('.sub');
  if (subEl) subEl.textContent = sub || '';
}

function renderRealtime(rt, generatedAt) {
  const box = $('realtime');
  for (const key of ['received', 'served', 'ongoing', 'succeeded', 'failed', 'cancelled']) setCard(box, key, fmtInt(rt[key]));
  const uptime = (Date.parse(generatedAt) - Date.parse(rt.started_at)) / 1000;
  setCard(box, 'uptime', fmtDuration(uptime));
  box.querySelector('[data-key="uptime"]').title = `Started ${fmtTime(rt.started_at)}`;
}

function renderTotals(t) {
  const box = $('totals');
  setCard(box, 'total_requests', t ? fmtInt(t.total_requests) : '—');
  setCard(box, 'success_rate', t ? fmtPct(t.success_rate) : '—');
  setCard(box, 'failed_requests', t ? fmtInt(t.failed_requests) : '—');
  setCard(box, 'cancelled_requests', t ? fmtInt(t.cancelled_requests) : '—');
  setCard(box, 'avg_duration_ms', t ? fmtMs(t.avg_duration_ms) : '—');
  setCard(
    box,
    'total_tokens',
    t ? fmtInt(t.total_tokens) : '—',
    t ? `${fmtInt(t.prompt_tokens)} prompt · ${fmtInt(t.completion_tokens)} completion` : '',
  );
}

/** One object per model from the API's parallel per-model lists (all in requests order). */
function mergeModels(h) {
  const byName = new Map();
  const get = (name) => {
    if (!byName.has(name)) byName.set(name, { model_name: name });
    return byName.get(name);
  };
  for (const r of h.error_rates) Object.assign(get(r.model_name), r);
  for (const r of h.avg_response_times) Object.assign(get(r.model_name), r);
  for (const r of h.tokens_by_model) Object.assign(get(r.model_name), r);
  return [...byName.values()];
}

function renderTable(rows) {
  const body = $('model-table').tBodies[0];
  if (!rows.length) {
    body.replaceChildren(el('tr', null, el('td', { className: 'empty', colSpan: 12 }, 'No requests in this window')));
    return;
  }
  const num = (value, extra = '') => el('td', { className: `num ${extra}`.trim() }, value);
  body.replaceChildren(
    ...rows.map((r) =>
      el(
        'tr',
        { dataset: { model: r.model_name } },
        el(
          'td',
          { className: 'model' },
          el('a', { href: `/logs?${new URLSearchParams({ model: r.model_name })}`, title: 'Show its logs' }, r.model_name),
        ),
        num(fmtInt(r.total_requests)),
        num(fmtInt(r.error_count)),
        num(fmtPct(r.error_rate), r.error_rate > HIGH_ERROR_RATE ? 'rate high' : 'rate'),
        num(fmtMs(r.avg_duration_ms)),
        num(fmtMs(r.p50_duration_ms)),
        num(fmtMs(r.p95_duration_ms)),
        num(fmtMs(r.max_duration_ms)),
        num(fmtMs(r.avg_ttfb_ms)),
        num(fmtInt(r.prompt_tokens)),
        num(fmtInt(r.completion_tokens)),
        num(fmtInt(r.total_tokens)),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Charts

const uPlot = globalThis.uPlot;

function palette() {
  return {
    text: cssVar('--muted'),
    grid: cssVar('--c-grid'),
    success: cssVar('--c-success'),
    error: cssVar('--c-error'),
    cancelled: cssVar('--c-cancelled'),
    avg: cssVar('--c-avg'),
    p50: cssVar('--c-p50'),
    p95: cssVar('--c-p95'),
    prompt: cssVar('--c-prompt'),
    completion: cssVar('--c-completion'),
  };
}

/** Count axes tick at whole numbers only. */
const COUNT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 1e8, 1e9];

function axis(p, extra = {}) {
  return {
    stroke: p.text,
    grid: { stroke: p.grid, width: 1 },
    ticks: { stroke: p.grid, width: 1 },
    font: '11px system-ui, sans-serif',
    ...extra,
  };
}

const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
const shortMs = (v) => (v >= 1000 ? `${compact.format(v / 1000)} s` : `${compact.format(v)} ms`);

/** Sum of the visible series 1..k at each x: the stacking base/top for series k+1/k. */
function stackedSums(u, k) {
  const out = new Array(u.data[0].length).fill(0);
  for (let s = 1; s <= k; s++) {
    if (!u.series[s].show) continue;
    const ys = u.data[s];
    for (let i = 0; i < out.length; i++) out[i] += ys[i] ?? 0;
  }
  return out;
}

function stackedBars(k, barOpts) {
  return uPlot.paths.bars({
    ...barOpts,
    disp: {
      y0: { unit: 1, values: (u) => stackedSums(u, k - 1) },
      y1: { unit: 1, values: (u) => stackedSums(u, k) },
    },
  });
}

/** Y range of a stacked chart: the tallest visible stack, never below 1 so empty buckets still get an axis. */
function stackedRange(u) {
  const top = stackedSums(u, u.series.length - 1).reduce((a, b) => Math.max(a, b), 0);
  return [0, Math.max(1, Math.ceil(top * 1.1))];
}

function chartWidth(box) {
  return Math.max(200, Math.floor(box.clientWidth));
}

function clearChart(name, message) {
  const existing = charts.get(name);
  existing?.plot.destroy();
  charts.delete(name);
  const box = document.querySelector(`[data-chart="${name}"]`);
  box.replaceChildren(el('div', { className: 'no-data' }, message));
}

/**
 * Updates the chart's data when its shape (key) is unchanged — no flicker on auto-refresh —
 * otherwise builds it anew.
 */
function upsertChart(name, key, height, makeOpts, data) {
  const box = document.querySelector(`[data-chart="${name}"]`);
  const existing = charts.get(name);
  if (existing && existing.key === key) {
    existing.plot.setData(data);
    return;
  }
  existing?.plot.destroy();
  box.replaceChildren();
  const opts = { ...makeOpts(palette()), width: chartWidth(box), height };
  charts.set(name, { plot: new uPlot(opts, data, box), key, height });
}

/** Label for a model on a category axis (drawn on canvas, so length is the only concern). */
const shortName = (name) => (name.length > 18 ? `${name.slice(0, 17)}…` : name);

/** Category x axis: one tick per model, labels slanted when they would not fit side by side. */
function categoryAxis(p, names, width) {
  const slant = names.length * 100 > width;
  return axis(p, {
    splits: (u) => u.data[0],
    values: (u, splits) => splits.map((i) => shortName(names[i] ?? '')),
    grid: { show: false },
    ...(slant ? { rotate: -30, size: 70 } : {}),
  });
}

function drawTrend(h) {
  const trends = h.usage_trends;
  const start = Date.parse(h.window.start) / 1000;
  const end = Date.parse(h.window.end) / 1000;
  const data = [
    trends.map((t) => Date.parse(t.bucket_start) / 1000),
    trends.map((t) => t.success),
    trends.map((t) => t.errors),
    trends.map((t) => t.cancelled),
  ];
  // The x range is the whole window (read at each redraw), so quiet edges stay visible as such.
  trendRange = [start, end];
  const bars = { align: 1, size: [0.9, 48] };
  const dateFmt = h.window.bucket === 'day' ? '{YYYY}-{MM}-{DD}' : '{YYYY}-{MM}-{DD} {HH}:{mm}';
  upsertChart('trend', `${themeKey()}|${dateFmt}`, 260, (p) => ({
    cursor: { points: { show: false }, drag: { x: false, y: false } },
    scales: { x: { time: true, range: () => trendRange }, y: { range: stackedRange } },
    axes: [axis(p), axis(p, { incrs: COUNT_INCRS, size: 48 })],
    series: [
      { label: 'Bucket start', value: dateFmt },
      { label: 'Success', fill: p.success, stroke: p.success, width: 0, paths: stackedBars(1, bars), points: { show: false }, value: countValue },
      { label: 'Errors', fill: p.error, stroke: p.error, width: 0, paths: stackedBars(2, bars), points: { show: false }, value: countValue },
      { label: 'Cancelled', fill: p.cancelled, stroke: p.cancelled, width: 0, paths: stackedBars(3, bars), points: { show: false }, value: countValue },
    ],
  }), data);
}
let trendRange = [0, 1];

const countValue = (u, v) => (v === null || v === undefined ? '—' : fmtInt(v));
const msValue = (u, v) => (v === null || v === undefined ? '—' : fmtMs(v));

/** Grouped bars: series k of n sits in its own slot of the category, at most ~60 px per group. */
function groupedBars(k, n) {
  const groupWidth = (u) => {
    const units = u.scales.x.max - u.scales.x.min;
    const pxPerUnit = u.bbox.width / units;
    return Math.min(0.8, (60 * n * devicePixelRatio) / pxPerUnit);
  };
  return uPlot.paths.bars({
    disp: {
      x0: { unit: 1, values: (u) => u.data[0].map((i) => i - groupWidth(u) / 2 + (k * groupWidth(u)) / n) },
      size: { unit: 1, values: (u) => [(groupWidth(u) / n) * 0.88] },
    },
  });
}

function drawLatency(rows) {
  if (!rows.length) return clearChart('latency', 'No requests in this window');
  const names = rows.map((r) => r.model_name);
  const data = [
    names.map((_, i) => i),
    rows.map((r) => r.avg_duration_ms),
    rows.map((r) => r.p50_duration_ms),
    rows.map((r) => r.p95_duration_ms),
  ];
  const box = document.querySelector('[data-chart="latency"]');
  upsertChart('latency', `${themeKey()}|${JSON.stringify(names)}`, 240, (p) => ({
    cursor: { points: { show: false }, drag: { x: false, y: false } },
    scales: {
      x: { time: false, range: (u) => [-0.5, u.data[0].length - 0.5] },
      y: { range: (u, min, max) => [0, Math.max(1, (max ?? 0) * 1.1)] },
    },
    axes: [categoryAxis(p, names, chartWidth(box)), axis(p, { values: (u, splits) => splits.map(shortMs), size: 56 })],
    series: [
      { label: 'Model', value: (u, v) => (v === null || v === undefined ? '—' : names[v] ?? '') },
      { label: 'avg', fill: p.avg, stroke: p.avg, width: 0, paths: groupedBars(0, 3), points: { show: false }, value: msValue },
      { label: 'p50', fill: p.p50, stroke: p.p50, width: 0, paths: groupedBars(1, 3), points: { show: false }, value: msValue },
      { label: 'p95', fill: p.p95, stroke: p.p95, width: 0, paths: groupedBars(2, 3), points: { show: false }, value: msValue },
    ],
  }), data);
}

function drawTokens(rows) {
  if (!rows.length) return clearChart('tokens', 'No requests in this window');
  const names = rows.map((r) => r.model_name);
  const data = [names.map((_, i) => i), rows.map((r) => r.prompt_tokens ?? 0), rows.map((r) => r.completion_tokens ?? 0)];
  const box = document.querySelector('[data-chart="tokens"]');
  const bars = { size: [0.6, 72] };
  upsertChart('tokens', `${themeKey()}|${JSON.stringify(names)}`, 240, (p) => ({
    cursor: { points: { show: false }, drag: { x: false, y: false } },
    scales: {
      x: { time: false, range: (u) => [-0.5, u.data[0].length - 0.5] },
      y: { range: stackedRange },
    },
    axes: [categoryAxis(p, names, chartWidth(box)), axis(p, { incrs: COUNT_INCRS, values: (u, s) => s.map((v) => compact.format(v)), size: 52 })],
    series: [
      { label: 'Model', value: (u, v) => (v === null || v === undefined ? '—' : names[v] ?? '') },
      { label: 'Prompt', fill: p.prompt, stroke: p.prompt, width: 0, paths: stackedBars(1, bars), points: { show: false }, value: countValue },
      { label: 'Completion', fill: p.completion, stroke: p.completion, width: 0, paths: stackedBars(2, bars), points: { show: false }, value: countValue },
    ],
  }), data);
}

function themeKey() {
  return document.documentElement.dataset.theme || (matchMedia('(prefers-color-scheme: dark)').matches ? 'auto-dark' : 'auto-light');
}

/** Charts follow their box's width (window resize, phone rotation). */
const resizer = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const name = entry.target.dataset.chart;
    const chart = charts.get(name);
    if (!chart) continue;
    const width = chartWidth(entry.target);
    if (Math.abs(chart.plot.width - width) >= 1) chart.plot.setSize({ width, height: chart.height });
  }
});

// ---------------------------------------------------------------------------------------------

function init() {
  initTheme($('theme'));
  readUrl();
  renderControls();
  if (typeof uPlot !== 'function') {
    showStatus('The chart library (/ui/vendor/uplot.js) did not load; charts are unavailable.', 'error');
    return;
  }
  for (const box of document.querySelectorAll('[data-chart]')) resizer.observe(box);
  $('bucket').addEventListener('change', () => {
    state.bucket = $('bucket').value;
    changed();
  });
  $('model').addEventListener('change', () => {
    state.model = $('model').value;
    changed();
  });
  $('refresh').addEventListener('click', () => refresh());
  $('controls').addEventListener('submit', (event) => event.preventDefault());
  window.addEventListener('yallmp:theme', () => {
    // Colours are baked into each chart's options: rebuild them from the last answer.
    for (const name of [...charts.keys()]) clearChart(name, '');
    if (state.data) render(state.data);
  });
  setInterval(() => {
    if ($('auto').checked && !document.hidden && !state.loading) refresh();
  }, REFRESH_MS);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && $('auto').checked) refresh();
  });
  refresh();
}

init();
