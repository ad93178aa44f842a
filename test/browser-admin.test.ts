/**
 * The admin page in a real headless Chromium: add a model through the form, see it listed, route
 * a request to it. CI installs Chromium at /usr/bin/chromium; without it this test fails, never skips.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ConfigStore } from '../src/config/store.ts';
import { MemorySink } from '../src/logging/fanout.ts';
import { startProxy, type ProxyServer } from '../src/server.ts';
import { startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.ts';
import { testLogger } from './helpers/proxy.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'test-artifacts');
const TOKEN = 'browser-admin-token-0123456789';
const NEW_KEY = 'sk-typed-in-the-browser-abcdef';

let up: FakeUpstream;
let proxy: ProxyServer;
let browser: Browser;
let dir: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it (apt-get install chromium) to run the admin page test`);
  }
  up = await startFakeUpstream();
  dir = mkdtempSync(join(tmpdir(), 'yallmp-browser-'));
  mkdirSync(join(dir, 'configs'));
  writeFileSync(
    join(dir, 'configs/config_default.yaml'),
    `model_list:\n  - {model_name: alpha, model_params: {api_base: "${up.base('alpha')}", api_key: sk-alpha-key}}\n` +
      `proxy_settings:\n  auth: {admin_token: ${TOKEN}}\n`,
  );
  const opened = ConfigStore.open({ defaultPath: 'configs/config_default.yaml', addedPath: 'configs/config_added.yaml', env: {}, rootDir: dir });
  if (!opened.ok) throw new Error(opened.errors.join('\n'));
  proxy = await startProxy({ store: opened.store, sink: new MemorySink(), log: testLogger(), host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 30_000,
  });
});
afterAll(async () => {
  await browser?.close();
  await proxy?.close(500);
  await up?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('adds a model through the page; it is listed and routable', async () => {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.setDefaultTimeout(10_000);

  await page.goto(`${proxy.url}/admin/`);
  // Before the token is entered the page's two list calls are refused, and it says why.
  await page.locator('#status[data-kind="error"]').waitFor();
  expect(await page.locator('#status').textContent()).toMatch(/^Missing or invalid admin token/);
  expect(problems.splice(0)).toEqual(Array(2).fill('console: Failed to load resource: the server responded with a status of 401 (Unauthorized)'));

  await page.fill('#token', TOKEN);
  await page.click('#token-form button');
  await page.locator('#list-default tr[data-model="alpha"]').waitFor();

  await page.click('#add');
  const form = page.locator('#model-form');
  await form.locator('[name=model_name]').fill('from-browser');
  await form.locator('[name=api_base]').fill(up.base('browser'));
  await form.locator('[name=api_key]').fill(NEW_KEY);
  await form.locator('[name=model]').fill('openai/browser-upstream');
  await form.locator('[name=fallbacks]').fill('alpha');
  await form.locator('[name=parameters]').fill('{"temperature": {"default": 0.3, "allow_override": false}}');
  await form.locator('button[type=submit]').click();

  const row = page.locator('#list-added tr[data-model="from-browser"]');
  await row.waitFor();
  expect(await row.locator('td').allTextContents()).toEqual([
    'from-browser', 'openai/browser-upstream', up.base('browser'), '****cdef', 'added', 'alpha', 'EditCopyDeriveDelete',
  ]);
  expect(await page.locator('#status').textContent()).toBe('Added from-browser');

  // Editing never pre-fills the secret field with the masked value.
  await row.getByRole('button', { name: 'Edit' }).click();
  expect(await form.locator('[name=api_key]').inputValue()).toBe('');
  expect(await form.locator('[name=api_key]').getAttribute('placeholder')).toBe('unchanged');
  await page.click('#cancel');

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'admin-page.png'), fullPage: true });
  expect(await page.content()).not.toContain(NEW_KEY);

  const res = await fetch(`${proxy.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'from-browser', messages: [{ role: 'user', content: 'hi' }] }),
  });
  expect(res.status).toBe(200);
  const [sent] = up.requestsFor('browser');
  expect(sent!.headers.authorization).toBe(`Bearer ${NEW_KEY}`);
  expect(sent!.json).toMatchObject({ model: 'browser-upstream', temperature: 0.3 });
  expect(problems).toEqual([]);
  await page.close();
});
