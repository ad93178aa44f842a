/**
 * Schema migrations from the command line, against the database the proxy itself would use
 * (same config files, same YALLMP_CONFIG_* / .env overrides).
 *
 *   tsx scripts/migrate.ts [latest|up|down|rollback|current|history|create <name>]
 *
 * Exit codes: 0 ok, 1 failure, 2 usage error. With `database.enabled: false` the read commands
 * (current, history) say so and exit 0, while the write commands (latest, up, down) exit 1: asking
 * to change a database the proxy will not use is almost certainly a configuration mistake, and a
 * deploy step should not report success for it. `create` needs no database at all.
 */
import { fileURLToPath } from 'node:url';
import type { MigrationResult } from 'kysely';
import { defaultConfigPaths, loadConfig } from '../src/config/load.ts';
import type { DatabaseConfig } from '../src/config/types.ts';
import { createDatabase } from '../src/db/factory.ts';
import {
  MigrationError,
  createMigrationFile,
  currentMigration,
  migrateDown,
  migrateToLatest,
  migrateUp,
  migrationHistory,
} from '../src/db/migrator.ts';
import type { DatabaseHandle } from '../src/db/factory.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const USAGE = 'usage: tsx scripts/migrate.ts [latest|up|down|rollback|current|history|create <name>]';

type Command = 'latest' | 'up' | 'down' | 'current' | 'history';
const COMMANDS: Record<string, Command> = {
  latest: 'latest',
  up: 'up',
  down: 'down',
  rollback: 'down',
  current: 'current',
  history: 'history',
};
const READ_ONLY: ReadonlySet<Command> = new Set(['current', 'history']);

function printResults(results: readonly MigrationResult[]): void {
  for (const r of results) {
    const mark = r.status === 'Success' ? 'ok  ' : r.status === 'Error' ? 'FAIL' : 'skip';
    console.log(`${mark} ${r.migrationName} ${r.direction.toLowerCase()}`);
  }
}

function describeTarget(cfg: DatabaseConfig): string {
  if (cfg.backend === 'sqlite') return `sqlite ${cfg.sqlite.path}`;
  const { user, host, port, database } = cfg.postgres;
  return `postgres ${user}@${host}:${port}/${database}`;
}

/** pg reports a refused connection to a name with several addresses as an AggregateError with no message. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.message) return error.message;
  if (error instanceof AggregateError) return error.errors.map(describeError).join('; ');
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : error.name;
}

async function runCommand(command: Command, handle: DatabaseHandle): Promise<void> {
  const { db, dialect } = handle;
  switch (command) {
    case 'latest': {
      const results = await migrateToLatest(db, dialect);
      printResults(results);
      if (results.length === 0) console.log('already up to date');
      return;
    }
    case 'up': {
      const results = await migrateUp(db, dialect);
      printResults(results);
      if (results.length === 0) console.log('nothing to apply: already up to date');
      return;
    }
    case 'down': {
      const results = await migrateDown(db, dialect);
      printResults(results);
      if (results.length === 0) console.log('nothing to roll back');
      return;
    }
    case 'current': {
      const current = await currentMigration(db);
      console.log(
        current ? `current: ${current.name} (applied ${current.executedAt.toISOString()})` : 'current: none',
      );
      return;
    }
    case 'history': {
      const { applied, pending } = await migrationHistory(db);
      for (const m of applied) console.log(`applied  ${m.executedAt.toISOString()}  ${m.name}`);
      for (const name of pending) console.log(`pending  ${' '.repeat(24)}  ${name}`);
      if (applied.length + pending.length === 0) console.log('no migrations found');
      return;
    }
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const [arg = 'latest', ...rest] = argv;
  if (arg === 'create') {
    const name = rest.join(' ').trim();
    if (name === '') {
      console.error(`create needs a name\n${USAGE}`);
      return 2;
    }
    console.log(`created ${await createMigrationFile(name)}`);
    return 0;
  }
  const command = COMMANDS[arg];
  if (!command || rest.length > 0) {
    console.error(`unknown arguments: ${argv.join(' ')}\n${USAGE}`);
    return 2;
  }

  const env = process.env;
  const loaded = loadConfig({ ...defaultConfigPaths(env, ROOT), env, rootDir: ROOT });
  for (const w of loaded.warnings) console.error(`warning: ${w}`);
  if (!loaded.ok) {
    for (const e of loaded.errors) console.error(`error: ${e}`);
    return 1;
  }
  const cfg = loaded.config.database;
  if (!cfg.enabled) {
    console.log('database logging is disabled (database.enabled: false); nothing to do');
    return READ_ONLY.has(command) ? 0 : 1;
  }

  console.log(`database: ${describeTarget(cfg)}`);
  const handle = createDatabase(cfg, { rootDir: ROOT });
  try {
    await runCommand(command, handle);
    return 0;
  } catch (error) {
    if (error instanceof MigrationError) printResults(error.results);
    console.error(`error: ${describeError(error)}`);
    return 1;
  } finally {
    await handle.close();
  }
}

process.exitCode = await main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`error: ${describeError(error)}`);
  return 1;
});
