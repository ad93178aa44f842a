/**
 * Benchmark child: yaLLMproxy itself (`startProxy`, the same code `src/main.ts` serves) with one
 * model, `bench-model`, pointing at the fake upstream.
 *
 *   node --import tsx scripts/bench/proxy-server.ts --upstream http://127.0.0.1:PORT/bench/v1
 *        [--sink none|default|postgres] [--pg-url postgres://user@host:port/database] [--work-dir DIR]
 *
 * `--sink none`: `nullSink`, i.e. the proxy core alone. `--sink default`: whatever
 * `createSinks` builds from the default logging/database settings (files + SQLite), with every
 * path inside a temp dir (under `--work-dir` when given, which is then left for the parent to
 * delete) so a run never writes into the repo. `--sink postgres`: the same, with
 * `database.backend: postgres` on the database of `--pg-url` (the parent creates it empty).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Logger } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { nullSink } from '../../src/logging/fanout.ts';
import { createSinks } from '../../src/logging/sinks.ts';
import type { RequestSink } from '../../src/logging/types.ts';
import { startProxy } from '../../src/server.ts';
import { argValue, runChild, serveUntilStopped } from './child.ts';
import { BENCH_MODEL, isSinkMode, SINK_MODES } from './protocol.ts';

/** Per-request info lines would be the benchmark's bottleneck; problems still reach stderr. */
const log: Logger = {
  info: () => {},
  warn: (m) => process.stderr.write(`proxy WARN ${m}\n`),
  error: (m) => process.stderr.write(`proxy ERROR ${m}\n`),
};

runChild('bench proxy', async () => {
  const upstream = argValue('upstream');
  const sinkMode = argValue('sink', 'none');
  const host = argValue('host', '127.0.0.1');
  if (!isSinkMode(sinkMode)) throw new Error(`--sink must be one of ${SINK_MODES.join(', ')}, got ${sinkMode}`);

  // rootDir of the config: relative log / database / spool paths of the defaults land here.
  // Left in place on exit when the parent gave --work-dir: it deletes the whole run's at the end
  // (bench.ts says why).
  const parent = argValue('work-dir', '');
  const dir = mkdtempSync(join(parent || tmpdir(), 'yallmp-bench-'));
  const defaultPath = join(dir, 'config_default.yaml');
  const addedPath = join(dir, 'config_added.yaml');
  writeFileSync(
    defaultPath,
    stringify({
      model_list: [{ model_name: BENCH_MODEL, model_params: { api_base: upstream, api_key: 'sk-bench-upstream' } }],
      router_settings: { num_retries: 1 },
      ...(sinkMode === 'postgres' ? { database: postgresSettings(argValue('pg-url')) } : {}),
    }),
  );
  writeFileSync(addedPath, stringify({ model_list: [], router_settings: { fallbacks: [] } }));
  // env {}: the benchmark must not pick up YALLMP_HOST / YALLMP_PORT or keys from the shell.
  const loaded = loadConfig({ defaultPath, addedPath, env: {}, rootDir: dir });
  if (!loaded.ok) throw new Error(`bench config invalid:\n${loaded.errors.join('\n')}`);
  const config = loaded.config;

  let sink: RequestSink = nullSink;
  if (sinkMode !== 'none') sink = (await createSinks({ config, rootDir: dir, log })).sink;

  const proxy = await startProxy({ config, sink, log, host, port: 0 });
  serveUntilStopped('yaLLMproxy', proxy.url, {
    close: async () => {
      await proxy.close(500);
      await sink.close?.();
      if (!parent) rmSync(dir, { recursive: true, force: true });
    },
  });
});

/** `database:` settings for a `postgres://user[:password]@host[:port]/database` URL. */
function postgresSettings(raw: string): object {
  const url = new URL(raw);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new Error(`--pg-url: not a postgres URL: ${raw}`);
  if (database === '') throw new Error(`--pg-url: no database name in ${raw}`);
  return {
    backend: 'postgres',
    connection: {
      postgres: {
        host: url.hostname,
        port: url.port === '' ? 5432 : Number(url.port),
        database,
        user: decodeURIComponent(url.username) || 'postgres',
        password: decodeURIComponent(url.password),
      },
    },
  };
}
