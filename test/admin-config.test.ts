import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigStore } from '../src/config/store.ts';
import { MemorySink } from '../src/logging/fanout.ts';
import { startProxy, type ProxyServer } from '../src/server.ts';
import { startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.ts';
import { testLogger } from './helpers/proxy.ts';

const ALPHA_KEY = 'sk-alpha-a-long-enough-secret-4242';
const DB_PASSWORD = 'short';
const DEFAULT_YAML = `# Top comment: kept by PUT
model_list:
  - model_name: alpha
    model_params:
      api_base: \${UP}/alpha/v1   # placeholder kept
      api_key: ${ALPHA_KEY}
router_settings:
  num_retries: 1   # retries comment
  fallbacks:
    - alpha: [beta]
proxy_settings:
  auth:
    admin_token: \${NOT_SET_ANYWHERE_BUT_ENV}
database:
  enabled: false
  connection:
    postgres: {password: ${DB_PASSWORD}}
`;
const ADDED_YAML = `model_list:
  - model_name: beta
    model_params: {api_base: "\${UP}/beta/v1", api_key: sk-beta}
router_settings:
  fallbacks:
    - beta: alpha
`;

let up: FakeUpstream;
let dir: string;
let proxy: ProxyServer;
let store: ConfigStore;
const TOKEN = 'admin-token-for-config-tests';
const auth = { authorization: `Bearer ${TOKEN}` };

beforeAll(async () => {
  up = await startFakeUpstream();
});
afterAll(async () => {
  await up.close();
});
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'yallmp-admin-config-'));
  write('config_default.yaml', DEFAULT_YAML);
  write('config_added.yaml', ADDED_YAML);
  const opened = ConfigStore.open({
    defaultPath: 'configs/config_default.yaml',
    addedPath: 'configs/config_added.yaml',
    env: { UP: up.origin, NOT_SET_ANYWHERE_BUT_ENV: TOKEN },
    rootDir: dir,
  });
  if (!opened.ok) throw new Error(opened.errors.join('\n'));
  store = opened.store;
  proxy = await startProxy({ store, sink: new MemorySink(), log: testLogger(), host: '127.0.0.1', port: 0 });
});
afterEach(async () => {
  await proxy.close(500);
  up.reset();
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): void {
  mkdirSync(join(dir, 'configs'), { recursive: true });
  writeFileSync(join(dir, 'configs', name), text);
}
const file = (name: string) => readFileSync(join(dir, 'configs', name), 'utf8');

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${proxy.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...auth },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}
const chat = (model: string) => call('POST', '/v1/chat/completions', { model, messages: [{ role: 'user', content: 'hi' }] });

describe('GET /admin/config', () => {
  it('shows the merged raw config, added parts tagged, every secret masked', async () => {
    expect(await call('GET', '/admin/config')).toEqual({
      status: 200,
      body: {
        model_list: [
          { model_name: 'alpha', model_params: { api_base: '${UP}/alpha/v1', api_key: '****4242' }, editable: false, source: 'default' },
          { model_name: 'beta', model_params: { api_base: '${UP}/beta/v1', api_key: '****' }, editable: true, source: 'added' },
        ],
        router_settings: { num_retries: 1, fallbacks: [{ alpha: ['beta'] }, { beta: 'alpha' }] },
        proxy_settings: { auth: { admin_token: '${NOT_SET_ANYWHERE_BUT_ENV}' } },
        database: { enabled: false, connection: { postgres: { password: '****' } } },
      },
    });
  });
});

describe('PUT /admin/config', () => {
  it('round-trips a GET view: masked secrets keep the stored values, comments and placeholders survive', async () => {
    const addedBefore = file('config_added.yaml');
    const view = (await call('GET', '/admin/config')).body;
    view.router_settings.num_retries = 3;
    expect(await call('PUT', '/admin/config', view)).toEqual({
      status: 200,
      body: { status: 'ok', message: 'Configuration saved successfully' },
    });
    const text = file('config_default.yaml');
    expect(text).toContain('# Top comment: kept by PUT');
    expect(text).toContain('num_retries: 3 # retries comment');
    expect(text).toContain('api_base: ${UP}/alpha/v1 # placeholder kept');
    expect(text).toContain(`api_key: ${ALPHA_KEY}`);
    expect(text).toContain(`password: ${DB_PASSWORD}`);
    expect(text).toContain('admin_token: ${NOT_SET_ANYWHERE_BUT_ENV}');
    expect(text).not.toContain('beta: alpha');
    expect(text).not.toContain('source');
    expect(file('config_added.yaml')).toBe(addedBefore);
    // Effective at once, and the key in use is the real one.
    expect(store.snapshot.config.numRetries).toBe(3);
    await chat('alpha');
    expect(up.requestsFor('alpha')[0]!.headers.authorization).toBe(`Bearer ${ALPHA_KEY}`);
  });

  it('validates before writing and lists every problem', async () => {
    const before = file('config_default.yaml');
    const view = (await call('GET', '/admin/config')).body;
    view.router_settings.num_retries = 0;
    view.model_list[0].model_params.api_base = 'nope';
    const res = await call('PUT', '/admin/config', view);
    const problems = [
      'configs/config_default.yaml: router_settings.num_retries: Invalid value: Expected >=1 but received 0',
      'configs/config_default.yaml: model_list.0.model_params.api_base: Invalid URL "nope" (expected an http:// or https:// URL)',
    ];
    expect(res).toEqual({
      status: 400,
      body: {
        error: {
          message: `Configuration not saved: ${problems.join('; ')}`,
          type: 'invalid_request_error', param: null, code: 'invalid_config', details: problems,
        },
      },
    });
    expect(file('config_default.yaml')).toBe(before);
    expect((await call('PUT', '/admin/config', [1])).body.error.code).toBe('invalid_json_shape');
    view.router_settings.num_retries = 1;
    view.model_list[0].model_params.api_base = 'http://x/v1';
    view.model_list[0].model_name = 'renamed';
    expect((await call('PUT', '/admin/config', view)).body.error).toEqual({
      message: 'model_list.0.model_params.api_key: masked value does not match the stored secret; send the real value',
      type: 'invalid_request_error', param: null, code: 'invalid_parameter',
    });
  });
});

describe('POST /admin/config/reload', () => {
  it('re-reads the files; a broken file leaves the old config serving', async () => {
    write('config_added.yaml', `${ADDED_YAML.split('router_settings')[0]}  - {model_name: gamma, model_params: {api_base: "\${UP}/gamma/v1"}}\n`);
    expect(await call('POST', '/admin/config/reload')).toEqual({
      status: 200,
      body: { status: 'ok', message: 'Configuration reloaded successfully', models_count: 3 },
    });
    expect((await chat('gamma')).status).toBe(200);

    write('config_default.yaml', 'model_list: [\n');
    write('config_added.yaml', 'model_list:\n  - {model_name: x, model_params: {api_base: ftp://x}}\n');
    const res = await call('POST', '/admin/config/reload');
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_config', type: 'invalid_request_error' });
    expect(res.body.error.message).toMatch(/^Configuration not reloaded; the running configuration is unchanged: configs\/config_default.yaml: line 2/);
    expect((await chat('gamma')).status).toBe(200);
    expect((await chat('alpha')).status).toBe(200);
  });

  it('lets every request in flight during a reload finish', async () => {
    up.script('alpha', [{ kind: 'ok', delayMs: 150 }]);
    const inFlight = Array.from({ length: 30 }, () => chat('alpha'));
    await up.waitForRequests(30);
    write('config_default.yaml', DEFAULT_YAML.replace('${UP}/alpha/v1', '${UP}/alpha2/v1'));
    expect((await call('POST', '/admin/config/reload')).status).toBe(200);
    const after = chat('alpha');
    const statuses = (await Promise.all([...inFlight, after])).map((r) => r.status);
    expect(statuses).toEqual(Array(31).fill(200));
    expect(up.requestsFor('alpha')).toHaveLength(30);
    expect(up.requestsFor('alpha2')).toHaveLength(1);
  });

  it('refuses an API change over a file edited by hand until it is reloaded', async () => {
    write('config_added.yaml', `${ADDED_YAML}# edited by hand\n`);
    expect(await call('POST', '/admin/models', { model_name: 'zeta', api_base: up.base('zeta') })).toEqual({
      status: 409,
      body: {
        error: {
          message: 'configs/config_added.yaml changed on disk since it was loaded; reload the configuration first',
          type: 'invalid_request_error', param: null, code: 'config_changed_on_disk',
        },
      },
    });
    await call('POST', '/admin/config/reload');
    expect((await call('POST', '/admin/models', { model_name: 'zeta', api_base: up.base('zeta') })).status).toBe(200);
    expect(file('config_added.yaml')).toContain('# edited by hand');
  });
});
