/**
 * The running configuration as one immutable snapshot, swapped in a single assignment. Requests
 * read `snapshot` once when they start, so they finish on the config they began with.
 *
 * The store also holds both YAML files as documents (comments and `${VAR}` placeholders intact).
 * Every change edits copies of them, runs the start-up loader on the copies, and only when that
 * passes writes the touched file atomically and swaps the snapshot. Changes run one at a time.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { parseDocument, type Document } from 'yaml';
import type { AuthSettings } from '../auth/schema.ts';
import { envFileFor, isPlainObject, parseDotenv, substituteEnv } from './env.ts';
import { buildConfig, type LoadOptions } from './load.ts';
import type { ConfigFile, Problems } from './read.ts';
import type { ProxyConfig } from './types.ts';

export type Scope = 'default' | 'added';
const SCOPES: readonly Scope[] = ['default', 'added'];

export interface Snapshot {
  readonly config: ProxyConfig;
  readonly auth: AuthSettings;
  readonly warnings: readonly string[];
}

export interface StoreOptions extends LoadOptions {
  /** Replaceable for tests; must leave either the old or the new file, never a mix. */
  readonly writeFile?: (path: string, text: string) => Promise<void>;
}

export interface Draft {
  /** Copies of the current documents; edit them freely. */
  readonly docs: Readonly<Record<Scope, Document>>;
  /** Marks a document as changed: only touched files are validated into the snapshot and written. */
  touch(scope: Scope): void;
}

export type ChangeResult<T> =
  | { ok: true; value: T; snapshot: Snapshot; newWarnings: string[] }
  | { ok: false; reason: 'invalid' | 'conflict'; errors: string[] };

export type OpenResult =
  | { ok: true; store: ConfigStore; config: ProxyConfig; warnings: string[] }
  | { ok: false; errors: string[]; warnings: string[] };

interface FileState {
  readonly path: string;
  readonly label: string;
  readonly doc: Document;
  readonly env: Readonly<Record<string, string>>;
  /** The file's text as last read or written; null while it does not exist. */
  readonly text: string | null;
}
type Files = Readonly<Record<Scope, FileState>>;

const ADDED_SECTIONS = ['model_list', 'router_settings'];
const ADDED_TEMPLATE = `# Models and fallbacks added at runtime (admin API) or by hand. Only model_list and
# router_settings.fallbacks are read from this file.
model_list: []
router_settings:
  fallbacks: []
`;

export class ConfigStore {
  private files: Files;
  private current: Snapshot;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly opts: StoreOptions, files: Files, snapshot: Snapshot) {
    this.files = files;
    this.current = snapshot;
  }

  /** Reads and validates both files, as `loadConfig` does at start-up. */
  static open(opts: StoreOptions): OpenResult {
    const problems: Problems = { errors: [], warnings: [] };
    const files = readFiles(opts, problems);
    const built = files && evaluate(files, opts, problems);
    if (!files || !built?.ok) return { ok: false, ...problems };
    return { ok: true, store: new ConfigStore(opts, files, built.snapshot), config: built.snapshot.config, warnings: problems.warnings };
  }

  get snapshot(): Snapshot {
    return this.current;
  }

  /** File name for messages, e.g. `config_added.yaml`. */
  fileName(scope: Scope): string {
    return basename(this.files[scope].path);
  }

  /** A fresh plain copy of a file as written: placeholders and `extends` kept, nothing resolved. */
  raw(scope: Scope): Record<string, unknown> {
    const top: unknown = this.files[scope].doc.toJS();
    return isPlainObject(top) ? top : {};
  }

  /** Applies `edit` to copies of the documents; validated, written and swapped in, or nothing at all. */
  change<T>(edit: (draft: Draft) => T): Promise<ChangeResult<T>> {
    return this.exclusive(async () => {
      const docs = { default: this.files.default.doc.clone(), added: this.files.added.doc.clone() };
      const touched = new Set<Scope>();
      const value = edit({ docs, touch: (scope) => touched.add(scope) });
      if (touched.size === 0) return { ok: true, value, snapshot: this.current, newWarnings: [] };

      const next: Record<Scope, FileState> = {
        default: { ...this.files.default, doc: docs.default },
        added: { ...this.files.added, doc: docs.added },
      };
      const built = evaluate(next, this.opts, { errors: [], warnings: [] });
      if (!built.ok) return { ok: false, reason: 'invalid', errors: built.errors };
      for (const scope of touched) {
        const file = next[scope];
        // A hand edit not yet reloaded would be silently overwritten: refuse instead.
        if (readText(file.path) !== file.text) {
          const message = `${file.label} changed on disk since it was loaded; reload the configuration first`;
          return { ok: false, reason: 'conflict', errors: [message] };
        }
        const text = file.doc.toString({ lineWidth: 0 });
        await (this.opts.writeFile ?? writeFileAtomic)(file.path, text);
        next[scope] = { ...file, text };
      }
      // Only what this change introduced: the rest was reported when it first appeared.
      const newWarnings = built.snapshot.warnings.filter((w) => !this.current.warnings.includes(w));
      return { ok: true, value, snapshot: this.swap(next, built.snapshot), newWarnings };
    });
  }

  /** Re-reads both files and their env files; on any problem the running config stays as it is. */
  reload(): Promise<{ ok: true; snapshot: Snapshot } | { ok: false; errors: string[]; warnings: string[] }> {
    return this.exclusive(async () => {
      const problems: Problems = { errors: [], warnings: [] };
      const files = readFiles(this.opts, problems);
      const built = files && evaluate(files, this.opts, problems);
      if (!files || !built?.ok) return { ok: false as const, ...problems };
      return { ok: true as const, snapshot: this.swap(files, built.snapshot) };
    });
  }

  private swap(files: Files, snapshot: Snapshot): Snapshot {
    this.files = files;
    this.current = snapshot;
    return snapshot;
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function evaluate(
  files: Files,
  opts: LoadOptions,
  problems: Problems,
): { ok: true; snapshot: Snapshot } | { ok: false; errors: string[] } {
  const defaults = toConfigFile(files.default, 'default', opts, problems);
  const added = toConfigFile(files.added, 'added', opts, problems);
  if (!defaults || !added) return { ok: false, errors: problems.errors };
  const result = buildConfig({ defaults, added, env: opts.env, rootDir: opts.rootDir }, problems);
  if (!result.ok) return { ok: false, errors: result.errors };
  const snapshot = Object.freeze({ config: result.config, auth: result.auth, warnings: Object.freeze([...result.warnings]) });
  return { ok: true, snapshot };
}

/** The same steps as `read.ts`, from a document in memory instead of a file. */
function toConfigFile(file: FileState, source: Scope, opts: LoadOptions, { errors, warnings }: Problems): ConfigFile | null {
  let top: unknown = file.doc.toJS() ?? {};
  if (!isPlainObject(top)) {
    errors.push(`${file.label}: expected a mapping at the top level, got ${Array.isArray(top) ? 'a list' : typeof top}`);
    return null;
  }
  if (source === 'added') {
    for (const key of Object.keys(top).filter((k) => !ADDED_SECTIONS.includes(k))) {
      warnings.push(`${file.label}: section '${key}' is ignored (the added config provides only model_list and router_settings.fallbacks)`);
    }
    top = Object.fromEntries(Object.entries(top).filter(([k]) => ADDED_SECTIONS.includes(k)));
  }
  const { value, missing } = substituteEnv(top, file.env, opts.env);
  for (const { name, path } of missing) {
    warnings.push(`${file.label}: environment variable '${name}' is not set (${path.join('.')})`);
  }
  return { label: file.label, source, top: value as Record<string, unknown>, missing };
}

function readFiles(opts: LoadOptions, { errors, warnings }: Problems): Files | null {
  const paths = { default: resolve(opts.rootDir, opts.defaultPath), added: resolve(opts.rootDir, opts.addedPath) };
  const envFiles = {
    // As in `load.ts`: the default file also reads `.env_added`, its own env file winning.
    default: [envFileFor(paths.added), envFileFor(paths.default)],
    added: [envFileFor(paths.added)],
  };
  const files: Partial<Record<Scope, FileState>> = {};
  for (const scope of SCOPES) {
    const path = paths[scope];
    const rel = relative(opts.rootDir, path);
    const label = rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
    let text: string | null;
    try {
      text = readText(path);
    } catch (error) {
      errors.push(`${label}: cannot read: ${(error as Error).message}`);
      continue;
    }
    if (text === null && scope === 'default') {
      errors.push(`Config file not found: ${path}`);
      continue;
    }
    if (text === null) warnings.push(`${label}: not found; no added models or fallbacks loaded`);
    const doc = parseDocument(text ?? ADDED_TEMPLATE, { merge: true });
    for (const e of doc.errors) {
      const [line, column] = [e.linePos?.[0].line ?? '?', e.linePos?.[0].col ?? '?'];
      const message = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      errors.push(`${label}: line ${line}, column ${column}: ${message}`);
    }
    const env = envFiles[scope].reduce((acc, envPath) => {
      try {
        return { ...acc, ...parseDotenv(readText(envPath) ?? '') };
      } catch (error) {
        warnings.push(`${label}: env file ${envPath} ignored: ${(error as Error).message}`);
        return acc;
      }
    }, {});
    files[scope] = { path, label, doc, env, text };
  }
  return files.default && files.added && errors.length === 0 ? { default: files.default, added: files.added } : null;
}

/** null when the file does not exist; other read errors are thrown. */
function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Temp file in the same directory, fsync, rename over the target, fsync the directory: a crash at
 * any point leaves the old file or the new one, never a truncated mix. The old file's mode is kept
 * (a config holding keys may have been made private).
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const mode = await stat(path).then((s) => s.mode & 0o777, () => 0o644);
  const tmp = join(dir, `.${basename(path)}.${randomUUID().slice(0, 8)}.tmp`);
  try {
    const handle = await open(tmp, 'wx', mode);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is already done.
  } finally {
    await dirHandle.close();
  }
}
