/**
 * The /usage and /logs pages in a real headless Chromium, against a served proxy with database
 * logging on (the real sinks: database writer, SQLite through its worker thread) that has served
 * a scripted mix of traffic. Checks that the charts are drawn (their series colours are on the
 * canvases), the tables list the models (one name full of HTML, shown as text), a log detail opens
 * with its attempts, filters and "load more" work, the admin token prompt works, and nothing is
 * logged to the console or fetched from anywhere but the proxy. Screenshots go to test-artifacts/.
 *
 * CI installs Chromium at /usr/bin/chromium; without it this test fails, never skips.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompiledQuery, sql } from 'kysely';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeRow, type Dialect } from '../src/db/dialect.ts';
import type { DatabaseHandle } from '../src/db/factory.ts';
import { rollupDeltas, rollupParams, rollupUpsertSql, type RollupSource } from '../src/db/rollups.ts';
import { REQUEST_LOG_COLUMNS } from '../src/db/schema.ts';
import { nullSink } from '../src/logging/fanout.ts';
import { createSinks, type Sinks } from '../src/logging/sinks.ts';
import { startProxy, type ProxyServer } from '../src/server.ts';
import { withDialect, type TestDb } from './helpers/db.ts';
import { startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.ts';
import { configFrom, model, testLogger } from './helpers/proxy.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'test-artifacts');
const TOKEN = 'browser-pages-admin-token-0123456789';
/** A model name that would run script if any page put it into the DOM as HTML. */
const EVIL = `<img src=x onerror="window.__xss=1">&amp;"'`;
const pgUrl = inject('pgUrl');

let up: FakeUpstream;
let browser: Browser;
const cleanups: Array<() => Promise<unknown> | unknown> = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it (apt-get install chromium) to run the page tests`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  up = await startFakeUpstream();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 30_000,
  });
});
afterAll(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  await browser?.close();
  await up?.close();
});

// ---------------------------------------------------------------------------------------------
// A proxy that served real traffic

interface Sent {
  readonly name: string;
  readonly model: string;
  readonly id: string;
  readonly status: number;
  readonly outcome: 'success' | 'error' | 'cancelled';
}

interface Served {
  proxy: ProxyServer;
  sinks: Sinks;
  sent: Sent[];
}

const messages = [{ role: 'user', content: 'hi' }];
const CHUNK = `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: 'Hel' }, finish_reason: null }] })}\n\n`;

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function startServed(dialect: Dialect): Promise<Served> {
  const t: TestDb = await withDialect(dialect, pgUrl);
  cleanups.push(() => t.close());
  const dir = mkdtempSync(join(tmpdir(), 'yallmp-pages-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const connection = dialect === 'sqlite' ? { sqlite: { path: t.config.sqlite.path } } : { postgres: t.config.postgres };
  const config = configFrom({
    model_list: [model('alpha', up.base('alpha')), model('beta', up.base('beta')), model(EVIL, up.base('evil'))],
    router_settings: { num_retries: 1, fallbacks: [{ alpha: ['beta'] }] },
    proxy_settings: { logging: { files: false }, retry: { base_delay_ms: 0 } },
    database: { backend: dialect, connection, spool_dir: join(dir, 'spool'), batch: { max_rows: 100, max_ms: 10 } },
  });
  const log = testLogger();
  const sinks = await createSinks({ config, rootDir: dir, log });
  cleanups.push(() => sinks.close());
  const usage = sinks.db();
  if (!usage) throw new Error(`database not opened: ${log.lines.join('\n')}`);
  const proxy = await startProxy({ config, sink: sinks.sink, usage, log, host: '127.0.0.1', port: 0 });
  cleanups.push(() => proxy.close(500));

  const sent: Sent[] = [];
  const send = async (name: string, body: Record<string, unknown>, outcome: Sent['outcome'], cancel = false): Promise<void> => {
    const abort = new AbortController();
    const res = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: abort.signal,
    });
    if (cancel) {
      await res.body!.getReader().read();
      abort.abort();
    } else {
      await res.arrayBuffer();
    }
    sent.push({ name, model: String(body.model), id: res.headers.get('x-request-id') ?? '', status: res.status, outcome });
    await until(() => proxy.counters.snapshot().ongoing === 0, `${name} finished`);
    up.reset();
  };
  // Delays make every model's latency bars visible (a 0 ms bar has no height).
  const ok = (delayMs: number) => ({ kind: 'ok' as const, delayMs });
  up.script('alpha', [ok(60)]);
  await send('alpha-ok', { model: 'alpha', messages }, 'success');
  up.script('beta', [ok(25)]);
  await send('beta-ok', { model: 'beta', messages }, 'success');
  up.script('alpha', [ok(40)]);
  await send('alpha-stream', { model: 'alpha', messages, stream: true }, 'success');
  up.script('alpha', [{ kind: 'status', status: 500 }]);
  up.script('beta', [ok(30)]);
  await send('fallback', { model: 'alpha', messages }, 'success');
  up.script('alpha', [{ kind: 'status', status: 400, body: { error: { message: 'temperature must be <= 2', type: 'invalid_request_error', param: 'temperature', code: null } } }]);
  await send('upstream-400', { model: 'alpha', messages, temperature: 9 }, 'error');
  up.script('evil', [ok(15)]);
  await send('evil-ok', { model: EVIL, messages }, 'success');
  up.script('alpha', [{ kind: 'stream', events: [CHUNK], thenHang: true }]);
  await send('cancel', { model: 'alpha', messages, stream: true }, 'cancelled', true);
  up.script('beta', [ok(20)]);
  await send('beta-ok-2', { model: 'beta', messages }, 'success');

  expect(sent.map((s) => [s.name, s.status])).toEqual([
    ['alpha-ok', 200],
    ['beta-ok', 200],
    ['alpha-stream', 200],
    ['fallback', 200],
    ['upstream-400', 400],
    ['evil-ok', 200],
    ['cancel', 200],
    ['beta-ok-2', 200],
  ]);
  await until(async () => {
    const res = await fetch(`${proxy.url}/api/logs?total=1&limit=1`);
    return res.ok && ((await res.json()) as { total: number }).total === sent.length;
  }, 'every row in the database');
  await backfillRollupsIfMissing(usage);
  return { proxy, sinks, sent };
}

/**
 * /api/usage reads `usage_rollups`, which the writer is to maintain in the rows' own transaction
 * (the `afterInsert` hook of src/db/batch.ts). Until it does, the rollups are built here from the
 * rows the writer wrote, with the same functions the writer will use. Once the writer maintains
 * them, they exist by the time the rows are visible, and this does nothing.
 */
async function backfillRollupsIfMissing({ db, dialect }: DatabaseHandle): Promise<void> {
  const { rows: counted } = await sql<{ n: unknown }>`SELECT count(*) AS n FROM usage_rollups`.execute(db);
  if (Number(counted[0]?.n ?? 0) > 0) return;
  const columns = ['request_time', 'model_name', 'client_key', 'outcome', 'is_stream', 'duration_ms', 'ttfb_ms', 'prompt_tokens', 'completion_tokens', 'total_tokens'] as const;
  const raw = await db.selectFrom('request_logs').select(columns).execute();
  const sources = raw.map((r) => decodeRow(dialect, REQUEST_LOG_COLUMNS, r) as unknown as RollupSource);
  const deltas = rollupDeltas(sources);
  await db.executeQuery(CompiledQuery.raw(rollupUpsertSql(dialect, deltas.length), deltas.flatMap(rollupParams)));
}

// ---------------------------------------------------------------------------------------------
// Browser helpers

interface Watched {
  page: Page;
  /** Console errors, page errors, failed requests, HTTP errors: must stay empty unless expected. */
  problems: string[];
  /** Every URL the page asked for. */
  requests: string[];
}

async function open(options: BrowserContextOptions = {}): Promise<Watched> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, ...options });
  cleanups.push(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText ?? ''}`));
  page.on('request', (req) => requests.push(req.url()));
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`);
  });
  return { page, problems, requests };
}

/**
 * Pixels of each colour on a chart's canvas (±12 per channel, so anti-aliased edges do not
 * count). Colours are the page's CSS custom properties, as the charts read them.
 */
async function seriesPixels(page: Page, chart: string, vars: string[]): Promise<Record<string, number> & { width: number; height: number }> {
  return page.evaluate(
    ({ chart, vars }) => {
      const canvas = document.querySelector<HTMLCanvasElement>(`[data-chart="${chart}"] canvas`);
      if (!canvas) throw new Error(`no canvas in chart ${chart}`);
      const probe = document.createElement('canvas').getContext('2d')!;
      const rgb = (css: string): number[] => {
        probe.clearRect(0, 0, 1, 1);
        probe.fillStyle = css;
        probe.fillRect(0, 0, 1, 1);
        return [...probe.getImageData(0, 0, 1, 1).data.slice(0, 3)];
      };
      const root = getComputedStyle(document.documentElement);
      const targets = vars.map((v) => [v, rgb(root.getPropertyValue(v).trim())] as const);
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      const counts: Record<string, number> = { width: canvas.width, height: canvas.height };
      for (const [v] of targets) counts[v] = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3]! < 250) continue;
        for (const [v, [r, g, b]] of targets) {
          if (Math.abs(data[i]! - r!) <= 12 && Math.abs(data[i + 1]! - g!) <= 12 && Math.abs(data[i + 2]! - b!) <= 12) counts[v]!++;
        }
      }
      return counts as Record<string, number> & { width: number; height: number };
    },
    { chart, vars },
  );
}

const onlyProxy = (requests: string[], origin: string) => requests.filter((u) => !u.startsWith(`${origin}/`));

// ---------------------------------------------------------------------------------------------

describe.each(['postgres', 'sqlite'] as const)('%s: pages against a proxy that served traffic', (dialect) => {
  let served: Served;
  const shot = (name: string) => join(ARTIFACTS, dialect === 'postgres' ? `${name}.png` : `${name}-${dialect}.png`);

  beforeAll(async () => {
    served = await startServed(dialect);
  });

  it('/usage: cards, charts drawn, models in the table', async () => {
    const { proxy, sent } = served;
    const { page, problems, requests } = await open();
    await page.goto(`${proxy.url}/usage`);
    await page.locator('#model-table tbody tr[data-model="alpha"]').waitFor();
    await page.locator('[data-chart="tokens"] canvas').waitFor();

    const card = (box: string, key: string) => page.locator(`#${box} [data-key="${key}"] .value`).textContent();
    expect(await card('realtime', 'received')).toBe(String(sent.length));
    expect(await card('realtime', 'served')).toBe(String(sent.length));
    expect(await card('realtime', 'ongoing')).toBe('0');
    expect(await card('realtime', 'succeeded')).toBe('6');
    expect(await card('realtime', 'failed')).toBe('1');
    expect(await card('realtime', 'cancelled')).toBe('1');
    expect(await card('totals', 'total_requests')).toBe(String(sent.length));

    // Per-model table: requests and errors per model, most requests first; EVIL shown as text.
    const rows = await page.locator('#model-table tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent)),
    );
    expect(rows).toEqual([
      ['alpha', '5', '1'],
      ['beta', '2', '0'],
      [EVIL, '1', '0'],
    ]);
    expect(await page.locator('#model-table img').count()).toBe(0);
    expect(await page.locator('#model-table tbody tr').nth(0).locator('a').getAttribute('href')).toBe('/logs?model=alpha');

    // Every series colour is on its chart's canvas: the bars were drawn.
    const trend = await seriesPixels(page, 'trend', ['--c-success', '--c-error', '--c-cancelled']);
    const latency = await seriesPixels(page, 'latency', ['--c-avg', '--c-p50', '--c-p95']);
    const tokens = await seriesPixels(page, 'tokens', ['--c-prompt', '--c-completion']);
    for (const counts of [trend, latency, tokens]) {
      expect(counts.width).toBeGreaterThan(300);
      expect(counts.height).toBeGreaterThan(150);
      for (const [key, n] of Object.entries(counts)) if (key.startsWith('--')) expect(n, `${key} pixels`).toBeGreaterThan(20);
    }

    // Window picker and model filter: the table follows, the URL keeps the view.
    await page.click('#windows button[data-hours="1"]');
    await page.locator('#model').selectOption('beta');
    await page.waitForFunction(() => document.querySelectorAll('#model-table tbody tr').length === 1);
    expect(await page.locator('#model-table tbody tr').getAttribute('data-model')).toBe('beta');
    expect(new URL(page.url()).search).toBe('?hours=1&model=beta');
    await page.locator('#model').selectOption('');
    await page.locator('#model-table tbody tr[data-model="alpha"]').waitFor();

    await page.screenshot({ path: shot('usage'), fullPage: true });
    expect(await page.evaluate(() => (window as { __xss?: number }).__xss)).toBeUndefined();
    expect(problems).toEqual([]);
    expect(onlyProxy(requests, proxy.url)).toEqual([]);
    // uPlot came from the proxy itself.
    expect(requests).toContain(`${proxy.url}/ui/vendor/uplot.js`);
  });

  it('/logs: newest first, a detail with its attempts, filters, load more', async () => {
    const { proxy, sent } = served;
    const { page, problems, requests } = await open();
    await page.goto(`${proxy.url}/logs`);
    const rows = page.locator('#log-table tbody tr[data-id]');
    await rows.nth(sent.length - 1).waitFor();
    expect(await rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.id))).toEqual(sent.map((s) => s.id).reverse());
    expect(await rows.locator('td.model').allTextContents()).toEqual(sent.map((s) => s.model).reverse());
    expect(await rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.outcome))).toEqual(sent.map((s) => s.outcome).reverse());
    expect(await page.locator('#count').textContent()).toBe(`(${sent.length} of ${sent.length})`);
    expect(await page.locator('#more').isHidden()).toBe(true);
    expect(await page.locator('#log-table img').count()).toBe(0);
    await page.screenshot({ path: shot('logs'), fullPage: true });

    // The fallback: alpha answered 500, beta served it.
    const fallback = sent.find((s) => s.name === 'fallback')!;
    await page.locator(`#log-table tr[data-id="${fallback.id}"] td.model`).click();
    const detail = page.locator('#detail');
    await detail.locator('table.attempts').waitFor();
    expect(new URL(page.url()).hash).toBe(`#${fallback.id}`);
    const attempts = await detail.locator('table.attempts tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
    );
    expect(attempts.map((a) => [a[1], a[3]])).toEqual([
      ['alpha', '500'],
      ['beta', '200'],
    ]);
    expect(await detail.locator('.route li').allTextContents()).toEqual(['alpha', 'beta']);
    expect(await detail.locator('.route .chip.served').textContent()).toBe('beta');
    expect(await detail.locator('.error-item .message').first().textContent()).toMatch(/^alpha returned retryable status 500/);
    expect(await detail.locator('dl.summary').textContent()).toContain(fallback.id);
    await page.screenshot({ path: shot('log-detail') });

    // Escape closes it and drops the hash; a streamed request shows its chunks.
    await page.keyboard.press('Escape');
    await detail.waitFor({ state: 'hidden' });
    expect(new URL(page.url()).hash).toBe('');
    const stream = sent.find((s) => s.name === 'alpha-stream')!;
    await page.locator(`#log-table tr[data-id="${stream.id}"] td.time a`).click();
    await detail.locator('h3', { hasText: /^Response \(stream/ }).waitFor();
    expect(await detail.locator('section', { hasText: /^Response \(stream/ }).locator('pre').textContent()).toContain('data: [DONE]');
    await page.click('#detail-close');

    // The EVIL model's detail: its name is text in the title and summary.
    const evil = sent.find((s) => s.name === 'evil-ok')!;
    await page.goto(`${proxy.url}/logs#${evil.id}`);
    await detail.locator('dl.summary').waitFor();
    expect(await page.locator('#detail-title').textContent()).toContain(EVIL);
    expect(await detail.locator('img').count()).toBe(0);
    await page.click('#detail-close');

    // Filters: outcome=error leaves the upstream 400.
    await page.locator('#filters select[name=outcome]').selectOption('error');
    await page.waitForFunction(() => document.querySelectorAll('#log-table tbody tr[data-id]').length === 1);
    expect(await rows.getAttribute('data-id')).toBe(sent.find((s) => s.name === 'upstream-400')!.id);
    expect(new URL(page.url()).searchParams.get('outcome')).toBe('error');
    await page.click('#reset');
    await rows.nth(sent.length - 1).waitFor();

    // Load more: three at a time via the cursor, until the end.
    await page.goto(`${proxy.url}/logs?limit=3&model=alpha`);
    await rows.nth(2).waitFor();
    expect(await rows.count()).toBe(3);
    await page.click('#more');
    await rows.nth(4).waitFor();
    expect(await page.locator('#more').isHidden()).toBe(true);
    expect(await rows.locator('td.model').allTextContents()).toEqual(Array(5).fill('alpha'));
    expect(await page.locator('#count').textContent()).toBe('(5 of 5)');

    expect(await page.evaluate(() => (window as { __xss?: number }).__xss)).toBeUndefined();
    expect(problems).toEqual([]);
    expect(onlyProxy(requests, proxy.url)).toEqual([]);
  });

  if (dialect === 'postgres') {
    it('phone width, dark theme: no sideways scrolling, the detail fills the screen', async () => {
      const { proxy, sent } = served;
      const { page, problems } = await open({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
      await page.goto(`${proxy.url}/usage`);
      await page.locator('[data-chart="tokens"] canvas').waitFor();
      expect(await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth])).toEqual([390, 390]);
      expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(21, 23, 27)');
      await page.screenshot({ path: join(ARTIFACTS, 'usage-phone-dark.png'), fullPage: true });

      await page.goto(`${proxy.url}/logs`);
      await page.locator('#log-table tbody tr[data-id]').nth(sent.length - 1).waitFor();
      expect(await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth])).toEqual([390, 390]);
      await page.screenshot({ path: join(ARTIFACTS, 'logs-phone-dark.png'), fullPage: true });
      await page.goto(`${proxy.url}/logs#${sent.find((s) => s.name === 'fallback')!.id}`);
      await page.locator('#detail table.attempts').waitFor();
      expect(await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth])).toEqual([390, 390]);
      expect(await page.locator('#detail').evaluate((d) => Math.round(d.getBoundingClientRect().width))).toBe(390);
      await page.screenshot({ path: join(ARTIFACTS, 'log-detail-phone-dark.png') });

      // The toggle pins light over the system's dark, and it sticks across pages.
      await page.click('#detail-close');
      await page.click('#theme');
      expect(await page.locator('#theme').textContent()).toBe('Theme: light');
      expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(247, 247, 248)');
      await page.goto(`${proxy.url}/usage`);
      expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('light');
      // Switching theme redraws the charts in the new colours.
      await page.locator('[data-chart="trend"] canvas').waitFor();
      await page.click('#theme');
      expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
      await page.locator('[data-chart="trend"] canvas').waitFor();
      expect((await seriesPixels(page, 'trend', ['--c-success']))['--c-success']).toBeGreaterThan(20);
      expect(problems).toEqual([]);
    });

    it('/usage refreshes every 10 s until paused', async () => {
      const { proxy } = served;
      const { page, problems, requests } = await open();
      await page.clock.install();
      await page.goto(`${proxy.url}/usage`);
      await page.locator('#model-table tbody tr[data-model="alpha"]').waitFor();
      const calls = () => requests.filter((u) => u.startsWith(`${proxy.url}/api/usage?`)).length;
      expect(calls()).toBe(1);
      await page.clock.runFor(10_000);
      await until(() => calls() === 2, 'the auto-refresh');
      await page.click('#refresh');
      await until(() => calls() === 3, 'the manual refresh');
      await page.uncheck('#auto');
      await page.clock.runFor(30_000);
      await new Promise((r) => setTimeout(r, 300));
      expect(calls()).toBe(3);
      expect(problems).toEqual([]);
    });

    it('with an admin token, /logs asks for it on 401 and then shows the logs', async () => {
      const { sinks, sent } = served;
      const config = configFrom({ model_list: [model('alpha', up.base('alpha'))] });
      const guarded = await startProxy({ config, sink: nullSink, usage: sinks.db(), adminToken: TOKEN, log: testLogger(), host: '127.0.0.1', port: 0 });
      cleanups.push(() => guarded.close(500));
      const { page, problems } = await open();
      await page.goto(`${guarded.url}/logs`);
      const dialog = page.locator('#token-dialog');
      await dialog.waitFor();
      await dialog.locator('input').fill(TOKEN);
      await dialog.locator('button[type=submit]').click();
      await page.locator('#log-table tbody tr[data-id]').nth(sent.length - 1).waitFor();
      expect(await page.evaluate(() => sessionStorage.getItem('yallmp-admin-token'))).toBe(TOKEN);
      await page.locator('#log-table tbody tr[data-id]').first().click();
      await page.locator('#detail dl.summary').waitFor();
      // The only complaint is the browser noting the first, refused call.
      expect(problems.sort()).toEqual([
        `HTTP 401: ${guarded.url}/api/logs?limit=50&total=1`,
        'console: Failed to load resource: the server responded with a status of 401 (Unauthorized)',
      ]);
    });
  }
});

describe('pages without database logging', () => {
  it('/usage says history is unavailable; /logs says there are no logs', async () => {
    const config = configFrom({ model_list: [model('alpha', up.base('alpha'))], database: { enabled: false } });
    const proxy = await startProxy({ config, sink: nullSink, log: testLogger(), host: '127.0.0.1', port: 0 });
    cleanups.push(() => proxy.close(500));
    const { page, problems } = await open();
    await page.goto(`${proxy.url}/usage`);
    await page.locator('#status.warn').waitFor();
    expect(await page.locator('#status').textContent()).toMatch(/^Historical usage is unavailable: database logging is off/);
    expect(await page.locator('#historical').getAttribute('data-state')).toBe('unavailable');
    expect(problems).toEqual([]);

    await page.goto(`${proxy.url}/logs`);
    await page.locator('#status.warn').waitFor();
    expect(await page.locator('#status').textContent()).toBe('Database logging is disabled, so there are no request logs to show.');
    expect(problems.filter((p) => !p.includes('404'))).toEqual([]);
  });

  it('serves the assets with their types, a strict CSP, and 304 on a matching ETag', async () => {
    const config = configFrom({ model_list: [model('alpha', up.base('alpha'))] });
    const proxy = await startProxy({ config, sink: nullSink, log: testLogger(), host: '127.0.0.1', port: 0 });
    cleanups.push(() => proxy.close(500));
    const expected: Record<string, string> = {
      '/usage': 'text/html; charset=utf-8',
      '/logs': 'text/html; charset=utf-8',
      '/ui/usage/usage.js': 'text/javascript; charset=utf-8',
      '/ui/logs/logs.js': 'text/javascript; charset=utf-8',
      '/ui/shared/common.js': 'text/javascript; charset=utf-8',
      '/ui/shared/theme.js': 'text/javascript; charset=utf-8',
      '/ui/shared/pages.css': 'text/css; charset=utf-8',
      '/ui/vendor/uplot.js': 'text/javascript; charset=utf-8',
      '/ui/vendor/uplot.css': 'text/css; charset=utf-8',
    };
    for (const [path, type] of Object.entries(expected)) {
      const res = await fetch(`${proxy.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(type);
      expect(res.headers.get('content-security-policy'), path).toMatch(/default-src 'none'; script-src 'self'; style-src 'self'/);
      const body = await res.text();
      expect(body.length, path).toBeGreaterThan(100);
      const again = await fetch(`${proxy.url}${path}`, { headers: { 'if-none-match': res.headers.get('etag')! } });
      expect(again.status, path).toBe(304);
    }
    expect(await (await fetch(`${proxy.url}/ui/vendor/uplot.js`)).text()).toMatch(/^\/\*! https:\/\/github.com\/leeoniya\/uPlot \(v1\.6\.\d+\)/);
    const redirect = await fetch(`${proxy.url}/logs/?model=a`, { redirect: 'manual' });
    expect([redirect.status, redirect.headers.get('location')]).toEqual([307, '/logs?model=a']);
    // No page pulls anything from elsewhere, nor runs inline script.
    for (const page of ['/usage', '/logs']) {
      const html = await (await fetch(`${proxy.url}${page}`)).text();
      expect(html).not.toMatch(/https?:\/\//);
      expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    }
  });
});
