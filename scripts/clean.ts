/**
 * Deletes everything under `logs/` except what must survive:
 * - the configured SQLite database and its `-wal`, `-shm` and `-journal` files (deleting a WAL or
 *   a hot journal next to a kept database would lose or corrupt committed rows);
 * - the database spool directory, which holds rows not yet written to the database;
 * - `logs/.gitkeep`.
 * The default `logs/yaLLM.db` is kept too, in case the config points elsewhere today.
 *
 *   tsx scripts/clean.ts [--dry-run]
 *
 * The config is loaded first; if it cannot be, nothing is deleted (exit 1), because then we would
 * not know which files are the database.
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultConfigPaths, loadConfig } from '../src/config/load.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LOGS_DIR = path.join(ROOT, 'logs');
const SQLITE_SIDE_FILES = ['', '-wal', '-shm', '-journal'];

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** Removes entries of `dir` not in `keep`, descending into directories that contain a kept path. */
async function removeExcept(dir: string, keep: readonly string[], dryRun: boolean): Promise<string[]> {
  const removed: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (keep.includes(full)) continue;
    if (entry.isDirectory() && keep.some((k) => isInside(k, full))) {
      removed.push(...(await removeExcept(full, keep, dryRun)));
      continue;
    }
    if (!dryRun) await rm(full, { recursive: true, force: true });
    removed.push(full);
  }
  return removed;
}

async function main(argv: readonly string[]): Promise<number> {
  const dryRun = argv.includes('--dry-run');
  if (argv.some((a) => a !== '--dry-run')) {
    console.error('usage: tsx scripts/clean.ts [--dry-run]');
    return 2;
  }
  const env = process.env;
  const loaded = loadConfig({ ...defaultConfigPaths(env, ROOT), env, rootDir: ROOT });
  if (!loaded.ok) {
    for (const e of loaded.errors) console.error(`error: ${e}`);
    console.error('config not loadable, so the database files are unknown: nothing deleted');
    return 1;
  }
  const { database } = loaded.config;
  const databases = [path.join(LOGS_DIR, 'yaLLM.db'), path.resolve(ROOT, database.sqlite.path)];
  const keep = [
    path.join(LOGS_DIR, '.gitkeep'),
    path.resolve(ROOT, database.spoolDir),
    ...databases.flatMap((db) => SQLITE_SIDE_FILES.map((suffix) => db + suffix)),
  ];

  const removed = await removeExcept(LOGS_DIR, keep, dryRun);
  const verb = dryRun ? 'would remove' : 'removed';
  for (const file of removed) console.log(`${verb} ${path.relative(ROOT, file)}`);
  console.log(`${verb} ${removed.length} entr${removed.length === 1 ? 'y' : 'ies'} from logs/`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
  return 1;
});
