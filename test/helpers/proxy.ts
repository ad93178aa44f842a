import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Logger } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { ProxyConfig } from '../../src/config/types.ts';
import { MemorySink } from '../../src/logging/fanout.ts';
import type { RequestSink } from '../../src/logging/types.ts';
import { startProxy, type ProxyServer } from '../../src/server.ts';

export interface TestLogger extends Logger {
  lines: string[];
}

export function testLogger(): TestLogger {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
}

/** Writes `doc` as the default config (plus an empty added one) in a temp dir and loads it. */
export function configFrom(doc: Record<string, unknown>, env: Record<string, string> = {}): ProxyConfig {
  const dir = mkdtempSync(join(tmpdir(), 'yallmp-cfg-'));
  try {
    const defaultPath = join(dir, 'config_default.yaml');
    const addedPath = join(dir, 'config_added.yaml');
    writeFileSync(defaultPath, stringify(doc));
    writeFileSync(addedPath, stringify({ model_list: [], router_settings: { fallbacks: [] } }));
    const loaded = loadConfig({ defaultPath, addedPath, env, rootDir: dir });
    if (!loaded.ok) throw new Error(`test config invalid:\n${loaded.errors.join('\n')}`);
    return loaded.config;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A model entry pointing at `apiBase`, with extra `model_params`. */
export function model(name: string, apiBase: string, params: Record<string, unknown> = {}, entry: Record<string, unknown> = {}) {
  return { model_name: name, model_params: { api_base: apiBase, api_key: `sk-test-${name}-secret`, ...params }, ...entry };
}

export interface TestProxy {
  proxy: ProxyServer;
  sink: MemorySink;
  log: TestLogger;
  config: ProxyConfig;
  base: string;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

export async function startTestProxy(doc: Record<string, unknown>, opts: { sink?: RequestSink; env?: Record<string, string> } = {}): Promise<TestProxy> {
  const config = configFrom(doc, opts.env);
  const sink = new MemorySink();
  const log = testLogger();
  const proxy = await startProxy({
    config,
    sink: opts.sink ? { publish: (r) => (sink.publish(r), opts.sink!.publish(r)) } : sink,
    log,
    host: '127.0.0.1',
    port: 0,
  });
  return {
    proxy,
    sink,
    log,
    config,
    base: `${proxy.url}/v1`,
    post: (path, body, headers = {}) =>
      fetch(`${proxy.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    close: () => proxy.close(1000),
  };
}
