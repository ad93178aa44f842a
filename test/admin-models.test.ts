import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigStore } from '../src/config/store.ts';
import { MemorySink } from '../src/logging/fanout.ts';
import { startProxy, type ProxyServer } from '../src/server.ts';
import { startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.ts';
import { testLogger } from './helpers/proxy.ts';

const ALPHA_KEY = 'sk-alpha-from-env-file-0000000000';
const BASE_KEY = 'sk-base-literal-secret-0123456789';
const DEFAULT_YAML = `# Default models (this comment must survive API writes)
model_list:
  - model_name: alpha   # primary
    model_params:
      api_base: \${UP}/alpha/v1
      api_key: \${ALPHA_KEY}
      model: openai/alpha-upstream
  - model_name: base
    model_params:
      api_base: \${UP}/base/v1
      api_key: ${BASE_KEY}
      request_timeout: 5
router_settings:
  num_retries: 1
  fallbacks: []
proxy_settings:
  retry: {base_delay_ms: 0}
`;
const ADDED_YAML = 'model_list: []\nrouter_settings:\n  fallbacks: []\n';

let up: FakeUpstream;
let dir: string;
let proxy: ProxyServer;
let store: ConfigStore;

beforeAll(async () => {
  up = await startFakeUpstream();
});
afterAll(async () => {
  await up.close();
});
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'yallmp-admin-'));
  for (const [path, text] of Object.entries({
    'configs/config_default.yaml': DEFAULT_YAML,
    'configs/config_added.yaml': ADDED_YAML,
    'configs/.env_default': `ALPHA_KEY=${ALPHA_KEY}\n`,
  })) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const opened = ConfigStore.open({
    defaultPath: 'configs/config_default.yaml', addedPath: 'configs/config_added.yaml', env: { UP: up.origin }, rootDir: dir,
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

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${proxy.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}
const chat = (model: string) => call('POST', '/v1/chat/completions', { model, messages: [{ role: 'user', content: 'hi' }] });
const file = (name: 'default' | 'added') => readFileSync(join(dir, `configs/config_${name}.yaml`), 'utf8');
const invalid = (message: string, code: string, param: string | null = null) => ({
  error: { message, type: 'invalid_request_error', param, code },
});

describe('POST /admin/models', () => {
  it('registers a model that is routable in the next request, with parameters and fallbacks applied', async () => {
    const res = await call('POST', '/admin/models', {
      model_name: ' gamma ',
      model_params: { api_base: up.base('gamma'), api_key: 'sk-gamma', model: 'openai/g-1', request_timeout: '30' },
      parameters: { temperature: { default: 0.25, allow_override: false } },
      fallbacks: 'alpha',
    });
    expect(res).toEqual({
      status: 200,
      body: { status: 'ok', model: 'gamma', replaced: false, fallbacks: ['alpha'], config_scope: 'added' },
    });
    up.script('gamma', [{ kind: 'status', status: 500 }]);
    expect((await chat('gamma')).status).toBe(200);
    const [sent] = up.requestsFor('gamma');
    expect(sent!.json).toMatchObject({ model: 'g-1', temperature: 0.25 });
    expect(sent!.headers.authorization).toBe('Bearer sk-gamma');
    // gamma answered 500, so its fallback alpha served the request, with alpha's key from the env file.
    expect(up.requestsFor('alpha')[0]!.headers.authorization).toBe(`Bearer ${ALPHA_KEY}`);
    expect(parse(file('added'))).toEqual({
      model_list: [
        {
          model_name: 'gamma',
          model_params: {
            api_base: up.base('gamma'), api_key: 'sk-gamma', model: 'openai/g-1', request_timeout: 30,
            api_type: 'openai', supports_reasoning: false,
          },
          parameters: { temperature: { default: 0.25, allow_override: false } },
        },
      ],
      router_settings: { fallbacks: [{ gamma: ['alpha'] }] },
    });
  });

  it('accepts the flat form and extends, effective at once', async () => {
    const res = await call('POST', '/admin/models', { name: 'derived', extends: 'base', base_url: up.base('derived'), timeout: 7 });
    expect(res.body).toEqual({ status: 'ok', model: 'derived', replaced: false, fallbacks: null, config_scope: 'added' });
    expect((await chat('derived')).status).toBe(200);
    // The key comes from the base; the base's api_type etc. are not pinned by the derived entry.
    expect(up.requestsFor('derived')[0]!.headers.authorization).toBe(`Bearer ${BASE_KEY}`);
    expect(store.snapshot.config.backends.get('derived')).toMatchObject({ requestTimeoutMs: 7000, apiKey: BASE_KEY });
    expect(parse(file('added')).model_list).toEqual([
      { model_name: 'derived', extends: 'base', model_params: { api_base: up.base('derived'), request_timeout: 7 } },
    ]);
  });

  it('replaces an entry; a masked key sent back keeps the stored key', async () => {
    const key = 'sk-delta-a-long-secret-value-9876';
    await call('POST', '/admin/models', { model_name: 'delta', model_params: { api_base: up.base('delta'), api_key: key } });
    const listed = (await call('GET', '/admin/models')).body.added[0];
    expect(listed.model_params.api_key).toBe('****9876');
    const res = await call('POST', '/admin/models', { model_name: 'delta', model_params: { ...listed.model_params, model: 'd-2' } });
    expect(res.body).toMatchObject({ replaced: true });
    await chat('delta');
    expect(up.requestsFor('delta')[0]!.headers.authorization).toBe(`Bearer ${key}`);
    expect(file('added')).toContain(`api_key: ${key}`);
  });

  it('answers bad input with the original messages', async () => {
    const cases: Array<[unknown, number, unknown]> = [
      ['{nope', 400, invalid('Invalid JSON body', 'invalid_json')],
      [[1], 400, invalid('body must be a JSON object', 'invalid_json_shape')],
      [{ model_params: { api_base: 'http://x/v1' } }, 400, invalid('model_name is required', 'missing_parameter', 'model_name')],
      [{ model_name: 'x', model_params: { api_key: 'k' } }, 400, invalid('api_base is required', 'missing_parameter', 'api_base')],
      [{ model_name: 'x', api_base: 'http://x/v1', request_timeout: 'soon' }, 400, invalid('request_timeout must be numeric', 'invalid_parameter', 'request_timeout')],
      [{ model_name: 'x', api_base: 'http://x/v1', fallbacks: [1] }, 400, invalid('fallbacks must be a string or list of strings', 'invalid_parameter', 'fallbacks')],
      [{ model_name: 'x', api_base: 'http://x/v1', config_scope: 'both' }, 400, invalid("config_scope must be 'added' or 'default'", 'invalid_parameter', 'config_scope')],
      [{ model_name: 'alpha', api_base: 'http://x/v1' }, 409, invalid("Model 'alpha' exists in config_default.yaml. Use config_scope='default' or choose another name.", 'model_exists')],
      [{ model_name: 'x', api_base: 'http://x/v1', api_key: '****' }, 400, invalid('model_params.api_key: masked value does not match the stored secret; send the real value', 'invalid_parameter')],
    ];
    for (const [body, status, expected] of cases) expect(await call('POST', '/admin/models', body)).toEqual({ status, body: expected });

    await call('POST', '/admin/models', { model_name: 'mine', api_base: up.base('mine') });
    expect(await call('POST', '/admin/models', { model_name: 'mine', api_base: 'http://x/v1', config_scope: 'DEFAULT' })).toEqual({
      status: 409,
      body: invalid("Model 'mine' exists in config_added.yaml. Delete it first or choose another name.", 'model_exists'),
    });
  });

  it('refuses what the loader refuses, listing every problem, and writes nothing', async () => {
    const before = file('added');
    const res = await call('POST', '/admin/models', { model_name: 'bad', api_base: 'ftp://x', extends: 'nowhere' });
    expect(res.status).toBe(400);
    const problems = ["configs/config_added.yaml: model_list.0.extends: Model 'bad' extends 'nowhere', but base model not found"];
    expect(res.body).toEqual({
      error: {
        message: `Model 'bad' not registered: ${problems.join('; ')}`,
        type: 'invalid_request_error', param: null, code: 'invalid_config', details: problems,
      },
    });
    expect(file('added')).toBe(before);
    expect((await chat('bad')).status).toBe(404);
  });

  it('registers into config_default.yaml with config_scope default, keeping its comments', async () => {
    const res = await call('POST', '/admin/models', { model_name: 'base', config_scope: 'default', api_base: up.base('base2'), api_key: '****6789' });
    expect(res.body).toEqual({ status: 'ok', model: 'base', replaced: true, fallbacks: null, config_scope: 'default' });
    expect(file('default')).toContain('# Default models (this comment must survive API writes)');
    expect(file('default')).toContain('alpha # primary');
    expect(file('default')).toContain(`api_key: ${BASE_KEY}`);
    await chat('base');
    expect(up.requestsFor('base2')).toHaveLength(1);
  });
});

describe('GET /admin/models', () => {
  it('lists both files with source, editable and inheritance, placeholders shown and secrets masked', async () => {
    await call('POST', '/admin/models', { model_name: 'child', extends: 'base', fallbacks: ['alpha'] });
    const { body } = await call('GET', '/admin/models');
    expect(body).toEqual({
      default: [
        {
          model_name: 'alpha',
          model_params: { api_base: '${UP}/alpha/v1', api_key: '${ALPHA_KEY}', model: 'openai/alpha-upstream' },
          editable: false,
          source: 'default',
        },
        {
          model_name: 'base',
          model_params: { api_base: '${UP}/base/v1', api_key: '****6789', request_timeout: 5 },
          editable: false,
          source: 'default',
        },
      ],
      added: [
        {
          model_name: 'child',
          model_params: { api_base: '${UP}/base/v1', api_key: '****6789', request_timeout: 5 },
          editable: true,
          source: 'added',
          _inherited_from: 'base',
        },
      ],
      fallbacks: { child: ['alpha'] },
    });
    const own = (await call('GET', '/admin/models?resolve=false')).body.added;
    expect(own).toEqual([{ model_name: 'child', extends: 'base', model_params: {}, editable: true, source: 'added', _inherited_from: 'base' }]);
  });
});

describe('DELETE /admin/models/{name}', () => {
  it('deletes added models only, and not a base others extend', async () => {
    await call('POST', '/admin/models', { model_name: 'parent', api_base: up.base('parent'), fallbacks: 'alpha' });
    await call('POST', '/admin/models', { model_name: 'kid', extends: 'parent' });
    expect(await call('DELETE', '/admin/models/alpha')).toEqual({
      status: 400,
      body: invalid(
        "Model 'alpha' is loaded from config_default.yaml and cannot be deleted. Edit config_default.yaml and reload the configuration to remove it.",
        'invalid_parameter',
      ),
    });
    expect(await call('DELETE', '/admin/models/ghost')).toEqual({ status: 404, body: invalid("Model 'ghost' not found", 'model_not_found') });
    expect(await call('DELETE', '/admin/models/parent')).toEqual({
      status: 409,
      body: invalid("Model 'parent' is extended by 'kid'. Delete or change it first.", 'model_in_use'),
    });
    expect(await call('DELETE', '/admin/models/kid')).toEqual({ status: 200, body: { status: 'ok', message: "Model 'kid' deleted successfully" } });
    expect(await call('DELETE', '/admin/models/parent')).toEqual({ status: 200, body: { status: 'ok', message: "Model 'parent' deleted successfully" } });
    expect((await chat('parent')).status).toBe(404);
    expect(parse(file('added'))).toEqual({ model_list: [], router_settings: { fallbacks: [] } });
  });
});

describe('POST /admin/models/copy', () => {
  it('copies the raw entry under a new name, routable at once', async () => {
    expect(await call('POST', '/admin/models/copy?target=x')).toEqual({
      status: 400, body: invalid("'source' query parameter is required", 'missing_parameter', 'source'),
    });
    expect(await call('POST', '/admin/models/copy?source=base&target=%20')).toEqual({
      status: 400, body: invalid("'target' query parameter is required", 'missing_parameter', 'target'),
    });
    expect(await call('POST', '/admin/models/copy?source=ghost&target=x')).toEqual({
      status: 404, body: invalid("Source model 'ghost' not found", 'model_not_found'),
    });
    expect(await call('POST', '/admin/models/copy?source=base&target=alpha')).toEqual({
      status: 409, body: invalid("Model 'alpha' already exists", 'model_exists'),
    });
    const res = await call('POST', '/admin/models/copy?source=base&target=base-copy');
    expect(res).toEqual({
      status: 200,
      body: {
        status: 'ok',
        message: "Model 'base' copied to 'base-copy'",
        model: { model_name: 'base-copy', model_params: { api_base: '${UP}/base/v1', api_key: '****6789', request_timeout: 5 } },
      },
    });
    expect((await chat('base-copy')).status).toBe(200);
    expect(up.requestsFor('base')[0]!.headers.authorization).toBe(`Bearer ${BASE_KEY}`);
    expect(file('added')).toContain('api_base: ${UP}/base/v1');
  });
});
