/**
 * `scripts/migrate.ts` as users run it: a child process reading a config file through
 * YALLMP_CONFIG_DEFAULT, against a fresh database of each dialect.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import type { DatabaseConfig } from '../src/config/types.ts';
import type { Dialect } from '../src/db/dialect.ts';
import { pgTestConfig, withDialect } from './helpers/db.ts';
import type { TestDb } from './helpers/db.ts';
import { TABLE_COLUMNS } from '../src/db/schema.ts';

const pgUrl = inject('pgUrl');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Every migration, in order (the first one's name is pinned, so a rename is noticed). */
const NAMES = readdirSync(path.join(ROOT, 'migrations'))
  .filter((f) => /^\d{4}_.*\.ts$/.test(f))
  .map((f) => f.slice(0, -3))
  .sort();
const FIRST = '0001_create_request_logs_and_error_logs';
const LAST = NAMES[NAMES.length - 1]!;
const BEFORE_LAST = NAMES.slice(0, -1);

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runCli(args: readonly string[], configFile: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/migrate.ts', ...args], {
      cwd: ROOT,
      env: {
        ...process.env,
        YALLMP_CONFIG_DEFAULT: configFile,
        YALLMP_CONFIG_ADDED: path.join(path.dirname(configFile), 'config_added.yaml'),
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** JSON strings are valid YAML scalars, so values need no YAML escaping of their own. */
function configYaml(cfg: DatabaseConfig, enabled = true): string {
  const { host, port, database, user, password } = cfg.postgres;
  return [
    'database:',
    `  enabled: ${enabled}`,
    `  backend: ${cfg.backend}`,
    '  connection:',
    '    sqlite:',
    `      path: ${JSON.stringify(cfg.sqlite.path)}`,
    '    postgres:',
    `      host: ${JSON.stringify(host)}`,
    `      port: ${port}`,
    `      database: ${JSON.stringify(database)}`,
    `      user: ${JSON.stringify(user)}`,
    `      password: ${JSON.stringify(password)}`,
    '',
  ].join('\n');
}

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 1));
    });
  });
}

async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'yallmp-cli-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A fresh database and a config file pointing at it. */
async function withCliDb(
  dialect: Dialect,
  fn: (t: TestDb, configFile: string) => Promise<void>,
): Promise<void> {
  const t = await withDialect(dialect, pgUrl);
  try {
    await inTempDir(async (dir) => {
      const configFile = path.join(dir, 'config_default.yaml');
      await writeFile(configFile, configYaml(t.config));
      await fn(t, configFile);
    });
  } finally {
    await t.close();
  }
}

const ISO = '\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z';
const line = (pattern: string) => new RegExp(`^${pattern}$`, 'm');

/** Exit 0, stdout matching, no error line on stderr (warnings about the bare config are fine). */
function ok(stdout: RegExp | string) {
  return {
    code: 0,
    stdout: typeof stdout === 'string' ? expect.stringContaining(stdout) : expect.stringMatching(stdout),
    stderr: expect.not.stringMatching(/^error/m),
  };
}

// Concurrent: nearly all the time goes into starting child processes (about a CPU-second each),
// and the tests share nothing. A longer timeout because a busy machine slows every spawn.
const CLI_TIMEOUT = { timeout: 90_000 };

const DIALECTS = ['sqlite', 'postgres'] as const;

describe.concurrent.each(DIALECTS)('scripts/migrate.ts on %s', CLI_TIMEOUT, (dialect) => {
  it('latest, current, history, rollback: prints each result and exits 0', () =>
    withCliDb(dialect, async (t, config) => {
      expect(NAMES[0]).toBe(FIRST);
      const ups = NAMES.map((n) => `ok +${n} up`).join('\\n');
      expect(await runCli(['latest'], config)).toEqual(ok(line(`database: ${dialect} .*\\n${ups}`)));
      const tables = (await t.db.introspection.getTables()).map((x) => x.name).sort();
      expect(tables).toEqual(Object.keys(TABLE_COLUMNS).sort());

      const [again, current, history] = await Promise.all([
        runCli([], config),
        runCli(['current'], config),
        runCli(['history'], config),
      ]);
      expect(again).toEqual(ok('already up to date'));
      expect(current).toEqual(ok(line(`current: ${LAST} \\(applied ${ISO}\\)`)));
      expect(history).toEqual(ok(line(NAMES.map((n) => `applied +${ISO} +${n}`).join('\\n'))));

      expect(await runCli(['rollback'], config)).toEqual(ok(line(`ok +${LAST} down`)));
      const after = [...BEFORE_LAST.map((n) => `applied +${ISO} +${n}`), `pending +${LAST}`].join('\\n');
      expect(await runCli(['history'], config)).toEqual(ok(line(after)));
    }));

  it('with database.enabled false: read commands exit 0, write commands exit 1', () =>
    withCliDb(dialect, async (t, config) => {
      await writeFile(config, configYaml(t.config, false));
      const [current, latest] = await Promise.all([runCli(['current'], config), runCli(['latest'], config)]);
      const disabled = expect.stringContaining('database logging is disabled');
      expect(current).toEqual({ code: 0, stdout: disabled, stderr: expect.any(String) });
      expect(latest).toEqual({ code: 1, stdout: disabled, stderr: expect.any(String) });
    }));
});

describe.concurrent('scripts/migrate.ts failures', CLI_TIMEOUT, () => {
  it('exits 1 with the error when PostgreSQL cannot be reached', () =>
    inTempDir(async (dir) => {
      const config = path.join(dir, 'config_default.yaml');
      const cfg = pgTestConfig(pgUrl);
      const unreachable = { ...cfg, postgres: { ...cfg.postgres, port: await closedPort() } };
      await writeFile(config, configYaml(unreachable));
      const result = await runCli(['latest'], config);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^error: .*ECONNREFUSED/m);
    }));

  it('exits 1 when the config is invalid, and 2 on a usage error', () =>
    inTempDir(async (dir) => {
      const config = path.join(dir, 'config_default.yaml');
      await writeFile(config, 'database:\n  backend: oracle\n');
      const [invalid, unknown, noName] = await Promise.all([
        runCli(['latest'], config),
        runCli(['sideways'], config),
        runCli(['create'], config),
      ]);
      expect(invalid.code).toBe(1);
      expect(invalid.stderr).toContain('oracle');
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('usage:');
      expect(noName.code).toBe(2);
    }));
});
