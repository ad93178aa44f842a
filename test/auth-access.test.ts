import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { isLoopbackAddress, isLoopbackHost } from '../src/auth/admin.ts';
import { isSecretKey, maskSecrets, maskValue, unmaskSecrets } from '../src/auth/secrets.ts';
import { ConfigStore, type OpenResult } from '../src/config/store.ts';
import { RealtimeCounters } from '../src/logging/counters.ts';
import { fanOut, MemorySink } from '../src/logging/fanout.ts';
import { createFileSink } from '../src/logging/files.ts';
import { createHeaderSanitizer } from '../src/logging/sanitize.ts';
import { startProxy, type ProxyServer } from '../src/server.ts';
import { UpstreamPools } from '../src/upstream/pools.ts';
import { startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.ts';
import { testLogger, type TestLogger } from './helpers/proxy.ts';

const ADMIN_TOKEN = 'adm-0f9e8d7c6b5a4f3e2d1c0b9a';
const ENV_ADMIN_TOKEN = 'env-adm-1a2b3c4d5e6f7a8b9c0d';
const TEAM_KEY = 'team-a-client-key-5566778899aabb';
const CI_KEY = 'ci-client-key-ffeeddccbbaa0099';
const BACKEND_KEY = 'sk-backend-secret-1122334455667788';
const SECRETS = [ADMIN_TOKEN, ENV_ADMIN_TOKEN, TEAM_KEY, CI_KEY, BACKEND_KEY];
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

const dirs: string[] = [];
let up: FakeUpstream;
let server: ProxyServer;
let store: ConfigStore;
let log: TestLogger;
let logDir: string;
const sink = new MemorySink();
const fileSink = () => createFileSink({ dir: logDir });
let files: ReturnType<typeof fileSink>;
/** Every response body and header seen by the tests, scanned for secrets at the end. */
const seen: string[] = [];

function openProject(defaultYaml: string): OpenResult {
  const dir = mkdtempSync(join(tmpdir(), 'yallmp-auth-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'configs'));
  writeFileSync(join(dir, 'configs/config_default.yaml'), defaultYaml);
  writeFileSync(join(dir, 'configs/.env_default'), `ADMIN_TOKEN=${ADMIN_TOKEN}\nTEAM_KEY=${TEAM_KEY}\nBACKEND_KEY=${BACKEND_KEY}\n`);
  return ConfigStore.open({ defaultPath: 'configs/config_default.yaml', addedPath: 'configs/config_added.yaml', env: {}, rootDir: dir });
}

const configYaml = (origin: string) => `
model_list:
  - model_name: m
    model_params: {api_base: "${origin}/m/v1", api_key: "\${BACKEND_KEY}"}
proxy_settings:
  auth:
    admin_token: \${ADMIN_TOKEN}
    keys:
      - {name: team-a, key: "\${TEAM_KEY}"}
      - {name: ci, key_hash: "${sha256(CI_KEY).toUpperCase()}"}
`;

beforeAll(async () => {
  up = await startFakeUpstream();
  const opened = openProject(configYaml(up.origin));
  if (!opened.ok) throw new Error(opened.errors.join('\n'));
  store = opened.store;
  logDir = mkdtempSync(join(tmpdir(), 'yallmp-auth-logs-'));
  dirs.push(logDir);
  files = fileSink();
  log = testLogger();
  server = await startProxy({ store, sink: fanOut([sink, files]), log, host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await server.close(500);
  await up.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function call(url: string, method: string, path: string, headers: Record<string, string> = {}, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? (method === 'GET' ? undefined : '{}') : JSON.stringify(body),
  });
  const text = await res.text();
  seen.push(text, JSON.stringify([...res.headers]));
  return { status: res.status, text, headers: res.headers };
}
const chat = (headers: Record<string, string>) =>
  call(server.url, 'POST', '/v1/chat/completions', headers, { model: 'm', messages: [{ role: 'user', content: 'hi' }] });

const GUARDED: Array<[string, string]> = [
  ['GET', '/admin/models'],
  ['POST', '/admin/models'],
  ['DELETE', '/admin/models/m'],
  ['POST', '/admin/models/copy?source=m&target=n'],
  ['GET', '/admin/config'],
  ['PUT', '/admin/config'],
  ['POST', '/admin/config/reload'],
  ['GET', '/admin/anything-else'],
  ['GET', '/api/logs'],
  ['GET', '/api/logs/3f2a9c1e'],
];

describe('admin token', () => {
  it('guards every admin and logs route with a 401 in the OpenAI shape', async () => {
    const wrong: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }, { 'x-admin-token': `${ADMIN_TOKEN}x` }];
    for (const headers of wrong) {
      for (const [method, path] of GUARDED) {
        const res = await call(server.url, method, path, headers);
        expect([method, path, res.status]).toEqual([method, path, 401]);
        expect(JSON.parse(res.text)).toEqual({
          error: {
            message: 'Missing or invalid admin token: send it as Authorization: Bearer <token> or x-admin-token',
            type: 'invalid_request_error', param: null, code: 'invalid_admin_token',
          },
        });
        expect(res.headers.get('www-authenticate')).toBe('Bearer realm="yallmp-admin"');
      }
    }
    expect(store.snapshot.config.backends.has('m')).toBe(true);
  });

  it('lets the token in as a bearer token or x-admin-token', async () => {
    expect((await call(server.url, 'GET', '/admin/models', { authorization: `Bearer ${ADMIN_TOKEN}` })).status).toBe(200);
    expect((await call(server.url, 'GET', '/admin/config', { 'x-admin-token': ADMIN_TOKEN })).status).toBe(200);
    // Past the guard, whatever the logs route answers.
    expect([401, 403]).not.toContain((await call(server.url, 'GET', '/api/logs', { 'x-admin-token': ADMIN_TOKEN })).status);
  });

  it('prefers YALLMP_ADMIN_TOKEN (the adminToken option) over the config token', async () => {
    const other = await startProxy({ store, sink, log: testLogger(), host: '127.0.0.1', port: 0, adminToken: ENV_ADMIN_TOKEN });
    try {
      expect((await call(other.url, 'GET', '/admin/models', { authorization: `Bearer ${ADMIN_TOKEN}` })).status).toBe(401);
      expect((await call(other.url, 'GET', '/admin/models', { authorization: `Bearer ${ENV_ADMIN_TOKEN}` })).status).toBe(200);
    } finally {
      await other.close(100);
    }
  });

  it('serves the admin page itself without a token, under a strict CSP', async () => {
    const page = await call(server.url, 'GET', '/admin/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await call(server.url, 'GET', '/admin/admin.js')).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await call(server.url, 'GET', '/admin/admin.css')).headers.get('content-type')).toBe('text/css; charset=utf-8');
    const redirect = await fetch(`${server.url}/admin`, { redirect: 'manual' });
    expect([redirect.status, redirect.headers.get('location')]).toEqual([307, '/admin/']);
  });
});

describe('without an admin token', () => {
  const bare = () => {
    const opened = openProject('model_list: []\n');
    if (!opened.ok) throw new Error(opened.errors.join('\n'));
    return opened.store;
  };

  it('answers loopback clients only', async () => {
    const store = bare();
    const app = createApp({
      getConfig: () => store.snapshot.config,
      store,
      sink,
      counters: new RealtimeCounters(),
      pools: new UpstreamPools({ connectTimeoutMs: 1000 }),
      sanitize: createHeaderSanitizer(),
      log: testLogger(),
      startedAt: 0,
    });
    const from = (remoteAddress: string, method: string, path: string, headers: Record<string, string> = {}) =>
      app.request(path, { method, headers }, { incoming: { socket: { remoteAddress } } });
    for (const [method, path] of GUARDED) {
      for (const remote of ['10.0.0.5', '192.168.1.20', '2001:db8::1', '::ffff:10.0.0.5']) {
        const res = await from(remote, method, path);
        expect([remote, method, path, res.status]).toEqual([remote, method, path, 403]);
        expect(await res.json()).toEqual({
          error: {
            message:
              'No admin token is configured, so the admin API answers loopback clients only (set YALLMP_ADMIN_TOKEN or proxy_settings.auth.admin_token)',
            type: 'invalid_request_error', param: null, code: 'admin_loopback_only',
          },
        });
      }
    }
    for (const remote of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) {
      expect((await from(remote, 'GET', '/admin/models')).status).toBe(200);
    }
    // Relayed by a local reverse proxy: not trusted as local.
    expect((await from('127.0.0.1', 'GET', '/admin/models', { 'x-forwarded-for': '203.0.113.9' })).status).toBe(403);
    // In-process, with no socket at all: refused.
    expect((await app.request('/admin/models')).status).toBe(403);
  });

  it('warns at start-up when binding a non-loopback address', async () => {
    const warned = testLogger();
    const open = await startProxy({ store: bare(), sink, log: warned, host: '0.0.0.0', port: 0 });
    await open.close(100);
    expect(warned.lines).toContain(
      'warn listening on 0.0.0.0 without an admin token: the admin API answers loopback clients only; set YALLMP_ADMIN_TOKEN or proxy_settings.auth.admin_token to administer it remotely',
    );
    const quiet = testLogger();
    const local = await startProxy({ store: bare(), sink, log: quiet, host: '127.0.0.1', port: 0 });
    await local.close(100);
    expect(quiet.lines).toEqual([]);
  });

  it('recognises loopback addresses and hosts', () => {
    expect(['127.0.0.1', '127.255.0.1', '::1', '::ffff:127.0.0.1'].map(isLoopbackAddress)).toEqual([true, true, true, true]);
    expect(['10.0.0.1', '::ffff:10.0.0.1', '1.127.0.0', '::', '0.0.0.0', '127.0.0.1.nip.io'].map(isLoopbackAddress)).toEqual(
      [false, false, false, false, false, false],
    );
    expect(['localhost', '127.0.0.1', '[::1]', '0.0.0.0', '::'].map(isLoopbackHost)).toEqual([true, true, true, false, false]);
  });
});

describe('client keys', () => {
  it('require a configured key on /v1/*, record its name, and record refusals', async () => {
    const before = sink.records.length;
    const refused = await chat({});
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.text)).toEqual({
      error: {
        message: 'Missing or invalid API key: send a configured client key as Authorization: Bearer <key> or x-api-key',
        type: 'invalid_request_error', param: null, code: 'invalid_api_key',
      },
    });
    expect((await chat({ authorization: `Bearer ${TEAM_KEY}x` })).status).toBe(401);
    expect((await chat({ 'x-api-key': ADMIN_TOKEN })).status).toBe(401);
    expect((await call(server.url, 'GET', '/v1/models')).status).toBe(401);

    expect((await chat({ authorization: `Bearer ${TEAM_KEY}` })).status).toBe(200);
    expect((await chat({ 'x-api-key': CI_KEY })).status).toBe(200);
    expect((await call(server.url, 'GET', '/v1/models', { 'x-api-key': CI_KEY })).status).toBe(200);

    await sink.waitFor(before + 6);
    const records = sink.records.slice(before);
    expect(records.map((r) => [r.path, r.outcome, r.statusCode, r.clientKey, r.errors[0]?.type ?? null])).toEqual([
      ['/v1/chat/completions', 'error', 401, null, 'unauthorized'],
      ['/v1/chat/completions', 'error', 401, null, 'unauthorized'],
      ['/v1/chat/completions', 'error', 401, null, 'unauthorized'],
      ['/v1/models', 'error', 401, null, 'unauthorized'],
      ['/v1/chat/completions', 'success', 200, 'team-a', null],
      ['/v1/chat/completions', 'success', 200, 'ci', null],
    ]);
    expect(records[0]!.id).toBe(refused.headers.get('x-request-id'));
    // The client's key never travels upstream; the backend's does.
    expect(up.requestsFor('m').map((r) => [r.headers.authorization, r.headers['x-api-key']])).toEqual([
      [`Bearer ${BACKEND_KEY}`, undefined],
      [`Bearer ${BACKEND_KEY}`, undefined],
    ]);
  });

  it('rejects keys that could not be resolved or are ambiguous, at load time', () => {
    const result = openProject(`proxy_settings:
  auth:
    admin_token: "\${UNSET_TOKEN}"
    keys:
      - {name: a, key: "\${UNSET_KEY}"}
      - {name: b, key: k, key_hash: "${sha256('k')}"}
      - {name: c, key_hash: nothex}
      - {key: k2}
`);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.errors).toEqual([
      'configs/config_default.yaml: proxy_settings.auth.admin_token: contains an environment variable that is not set',
      'configs/config_default.yaml: proxy_settings.auth.keys.0.key: contains an environment variable that is not set',
      'configs/config_default.yaml: proxy_settings.auth.keys.1: needs exactly one of key or key_hash',
      'configs/config_default.yaml: proxy_settings.auth.keys.2.key_hash: must be the hex SHA-256 of the key (64 hex digits)',
      'configs/config_default.yaml: proxy_settings.auth.keys.3.name: is required',
    ]);
  });
});

describe('masking', () => {
  it('masks every value under a secret key, whatever its length', () => {
    expect(['api_key', 'apiKey', 'x-api-key', 'password', 'client_secret', 'admin_token', 'key', 'key_hash', 'Authorization'].every(isSecretKey)).toBe(true);
    expect(['max_tokens', 'keys', 'model_name', 'api_base', 'monkey'].some(isSecretKey)).toBe(false);
    expect(['a', 'abcd1234', 'x'.repeat(23), 'sk-'.padEnd(24, 'z') + 'WXYZ', '', '\${VAR}', 12345].map(maskValue)).toEqual(
      ['****', '****', '****', '****WXYZ', '', '\${VAR}', '****'],
    );
    expect(maskSecrets({ list: [{ password: 'p', n: 1 }], api_key: 'k', parameters: { max_tokens: { default: 5 } } })).toEqual({
      list: [{ password: '****', n: 1 }], api_key: '****', parameters: { max_tokens: { default: 5 } },
    });
  });

  it('puts stored values back for masks, by model name in model lists', () => {
    const stored = { model_list: [{ model_name: 'a', model_params: { api_key: 'secret-a' } }, { model_name: 'b', model_params: { api_key: 7 } }] };
    const sent = { model_list: [{ model_name: 'b', model_params: { api_key: '****' } }, { model_name: 'a', model_params: { api_key: '****' } }] };
    expect(unmaskSecrets(sent, stored)).toEqual({ value: { model_list: [stored.model_list[1], stored.model_list[0]] }, problems: [] });
    expect(unmaskSecrets({ note: '****', token: '****x' }, { token: 'y' }).problems).toEqual([
      'token: masked value does not match the stored secret; send the real value',
    ]);
  });
});

describe('secrets', () => {
  it('appear in no response, record, log file or console line', async () => {
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    await call(server.url, 'POST', '/admin/models/copy?source=m&target=m2', admin);
    await call(server.url, 'GET', '/admin/models', admin);
    await call(server.url, 'GET', '/admin/models?resolve=false', admin);
    await call(server.url, 'GET', '/admin/config', admin);
    await chat({ authorization: `Bearer ${TEAM_KEY}`, 'x-admin-token': ADMIN_TOKEN });
    await files.close();
    const logFiles = readdirSync(logDir).map((f) => readFileSync(join(logDir, f), 'utf8'));
    expect(logFiles.length).toBeGreaterThan(0);
    const haystacks = [...seen, ...sink.records.map((r) => JSON.stringify(r)), ...logFiles, ...log.lines];
    for (const secret of SECRETS) {
      expect(haystacks.filter((h) => h.includes(secret)).length, `${secret.slice(0, 6)}… leaked`).toBe(0);
    }
  });
});
