/**
 * Composition root: the only module that reads process.env, opens sinks, serves and traps
 * signals. Everything else receives its collaborators.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { consoleLogger, type Logger } from './app.ts';
import { defaultConfigPaths } from './config/load.ts';
import { ConfigStore } from './config/store.ts';
import { fanOut } from './logging/fanout.ts';
import { createMetrics } from './metrics.ts';
import { startProxy } from './server.ts';
import type { RealtimeCounters } from './logging/counters.ts';
import { createSinks } from './logging/sinks.ts';

/** In-flight requests get this long to finish on SIGTERM before their sockets are closed. */
const SHUTDOWN_GRACE_MS = 10_000;

/** How long to wait, after the server closed, for the last in-flight records to be published. */
const RECORD_WAIT_MS = 2_000;

const rootDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const log: Logger = consoleLogger;

async function main(): Promise<void> {
  const paths = defaultConfigPaths(process.env, rootDir);
  const loaded = ConfigStore.open({ ...paths, env: process.env, rootDir });
  for (const w of loaded.warnings) log.warn(w);
  if (!loaded.ok) {
    log.error(`invalid configuration, not starting:\n  - ${loaded.errors.join('\n  - ')}`);
    process.exit(1);
  }
  // Sinks, bind address and database are fixed at start-up; models, keys and limits reload.
  const config = loaded.config;
  const sinks = await createSinks({ config, rootDir, log });
  const metrics = createMetrics(() => ({ files: sinks.files, db: sinks.database }));
  const server = await startProxy({
    store: loaded.store,
    sink: fanOut([sinks.sink, metrics.sink]),
    log,
    adminToken: process.env.YALLMP_ADMIN_TOKEN ?? null,
    usage: () => {
      const handle = sinks.db();
      return handle ? { db: handle.db, dialect: handle.dialect } : null;
    },
    metrics,
  });
  log.info(`listening on ${server.url} — ${config.backends.size} model(s): ${[...config.backends.keys()].join(', ') || '(none)'}`);
  log.info(`OpenAI base URL: ${server.url}/v1`);

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: draining in-flight requests`);
    await server.close(SHUTDOWN_GRACE_MS);
    // A request's record is published when it finishes, which can trail its socket closing by a
    // tick (a stream cut at the grace deadline); the writers drain only after the last one.
    await recordsPublished(server.counters, RECORD_WAIT_MS);
    log.info('draining request logs');
    await sinks.close();
    metrics.stop();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

async function recordsPublished(counters: RealtimeCounters, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (counters.snapshot().ongoing > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

main().catch((err: unknown) => {
  log.error(`start-up failed: ${(err as Error)?.stack ?? String(err)}`);
  process.exit(1);
});
