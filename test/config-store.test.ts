import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfigPaths, loadConfig } from '../src/config/load.ts';
import { ConfigStore, writeFileAtomic, type StoreOptions } from '../src/config/store.ts';
import { upsertEntry } from '../src/routes/admin-docs.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'yallmp-store-'));
  dirs.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const DEFAULT_YAML = `# keep this comment
model_list:
  - model_name: alpha   # and this one
    model_params:
      api_base: https://alpha.test/v1
      api_key: \${ALPHA_KEY}
router_settings:
  num_retries: 2
`;

function openStore(files: Record<string, string>, extra: Partial<StoreOptions> = {}) {
  const rootDir = project({ 'configs/config_default.yaml': DEFAULT_YAML, 'configs/.env_default': 'ALPHA_KEY=sk-alpha\n', ...files });
  const opened = ConfigStore.open({ ...defaultConfigPaths({}, rootDir), env: {}, rootDir, ...extra });
  if (!opened.ok) throw new Error(opened.errors.join('\n'));
  const read = (name: string) => readFileSync(join(rootDir, 'configs', name), 'utf8');
  return { store: opened.store, rootDir, read };
}

const model = (name: string) => ({ model_name: name, model_params: { api_base: `https://${name}.test/v1`, api_key: `sk-${name}` } });

describe('ConfigStore', () => {
  it('opens exactly what loadConfig loads (shipped configs)', () => {
    const shipped = (p: string) => readFileSync(join(ROOT, p), 'utf8');
    const rootDir = project({
      'configs/config_default.yaml': shipped('configs/config_default.yaml'),
      'configs/config_added.yaml': shipped('configs/config_added.yaml'),
    });
    const opts = { ...defaultConfigPaths({}, rootDir), env: {}, rootDir };
    const loaded = loadConfig(opts);
    const opened = ConfigStore.open(opts);
    if (!loaded.ok || !opened.ok) throw new Error('shipped config must load');
    expect(opened.config).toEqual(loaded.config);
    expect(opened.store.snapshot.auth).toEqual(loaded.auth);
    expect(opened.warnings).toEqual(loaded.warnings);
    expect(Object.isFrozen(opened.store.snapshot)).toBe(true);
  });

  it('writes a valid change, keeping comments and placeholders, and swaps the snapshot', async () => {
    const { store, read, rootDir } = openStore({});
    const before = store.snapshot;
    const result = await store.change(({ docs, touch }) => {
      upsertEntry(docs.default, { ...model('beta') });
      touch('default');
    });
    expect(result).toMatchObject({ ok: true, newWarnings: [] });
    expect(store.snapshot).not.toBe(before);
    expect([...store.snapshot.config.backends.keys()]).toEqual(['alpha', 'beta']);
    expect(store.snapshot.config.backends.get('alpha')?.apiKey).toBe('sk-alpha');
    const text = read('config_default.yaml');
    expect(text).toContain('# keep this comment');
    expect(text).toContain('# and this one');
    expect(text).toContain('api_key: ${ALPHA_KEY}');
    expect(text).toContain('  - model_name: beta\n');
    // The added file did not exist and was not touched: it is still not there.
    expect(readdirSync(join(rootDir, 'configs')).sort()).toEqual(['.env_default', 'config_default.yaml']);
  });

  it('rejects an invalid change before writing anything', async () => {
    const { store, read } = openStore({});
    const [snapshot, text] = [store.snapshot, read('config_default.yaml')];
    const result = await store.change(({ docs, touch }) => {
      upsertEntry(docs.default, { model_name: 'bad', model_params: { api_base: 'ftp://x' } });
      touch('default');
    });
    expect(result).toEqual({
      ok: false,
      reason: 'invalid',
      errors: ['configs/config_default.yaml: model_list.1.model_params.api_base: Invalid URL "ftp://x" (expected an http:// or https:// URL)'],
    });
    expect(store.snapshot).toBe(snapshot);
    expect(read('config_default.yaml')).toBe(text);
  });

  it('runs changes one at a time: none is lost', async () => {
    const { store } = openStore({});
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        store.change(({ docs, touch }) => {
          upsertEntry(docs.added, model(`m${i}`));
          touch('added');
        }),
      ),
    );
    expect([...store.snapshot.config.backends.keys()].sort()).toEqual(['alpha', ...Array.from({ length: 8 }, (_, i) => `m${i}`)].sort());
  });

  it('keeps the old file and snapshot when the write fails', async () => {
    const { store, read } = openStore(
      { 'configs/config_added.yaml': 'model_list: []\n' },
      { writeFile: async (path) => (writeFileSync(`${path}.partial`, 'model_li'), Promise.reject(new Error('disk full'))) },
    );
    const snapshot = store.snapshot;
    await expect(
      store.change(({ docs, touch }) => {
        upsertEntry(docs.added, model('beta'));
        touch('added');
      }),
    ).rejects.toThrow('disk full');
    expect(store.snapshot).toBe(snapshot);
    expect(read('config_added.yaml')).toBe('model_list: []\n');
  });

  it('refuses to overwrite a file edited by hand since it was loaded', async () => {
    const { store, rootDir } = openStore({ 'configs/config_added.yaml': 'model_list: []\n' });
    writeFileSync(join(rootDir, 'configs/config_added.yaml'), 'model_list: [] # edited\n');
    const result = await store.change(({ docs, touch }) => {
      upsertEntry(docs.added, model('beta'));
      touch('added');
    });
    expect(result).toEqual({
      ok: false,
      reason: 'conflict',
      errors: ['configs/config_added.yaml changed on disk since it was loaded; reload the configuration first'],
    });
  });

  it('reloads files and env files; a broken file leaves the running config untouched', async () => {
    const { store, rootDir } = openStore({});
    writeFileSync(join(rootDir, 'configs/.env_default'), 'ALPHA_KEY=sk-rotated\n');
    expect(await store.reload()).toMatchObject({ ok: true });
    expect(store.snapshot.config.backends.get('alpha')?.apiKey).toBe('sk-rotated');

    const snapshot = store.snapshot;
    writeFileSync(join(rootDir, 'configs/config_added.yaml'), 'model_list:\n  - model_name: [oops\n');
    writeFileSync(join(rootDir, 'configs/config_default.yaml'), 'router_settings: {num_retries: 0}\n');
    const result = await store.reload();
    expect(result.ok).toBe(false);
    expect(!result.ok && result.errors).toEqual([
      'configs/config_added.yaml: line 3, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
    expect(store.snapshot).toBe(snapshot);
  });
});

describe('writeFileAtomic', () => {
  it('leaves the old or the new file, never a mix, when the process dies mid-write', async () => {
    const dir = project({});
    const path = join(dir, 'config_added.yaml');
    const versions = ['a', 'b'].map((c) => `model_list: []\n# ${c.repeat(4 * 1024 * 1024)}\n`);
    writeFileSync(path, versions[0]!);
    // A child rewrites the file in a loop and is SIGKILLed at an arbitrary point.
    const script = `
      import { writeFileAtomic } from ${JSON.stringify(join(ROOT, 'src/config/store.ts'))};
      const versions = ${JSON.stringify(['a', 'b'])}.map((c) => 'model_list: []\\n# ' + c.repeat(4 * 1024 * 1024) + '\\n');
      process.stdout.write('ready\\n');
      for (let i = 1; ; i++) await writeFileAtomic(${JSON.stringify(path)}, versions[i % 2]);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('child did not start within 15 s')), 15_000);
      child.stdout.once('data', () => (clearTimeout(timer), resolve()));
    });
    await new Promise((r) => setTimeout(r, 150));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    expect(versions).toContain(readFileSync(path, 'utf8'));
  });

  it('keeps the file mode and cleans up its temp file on failure', async () => {
    const dir = project({ 'f.yaml': 'x: 1\n' });
    const path = join(dir, 'f.yaml');
    chmodSync(path, 0o600);
    await writeFileAtomic(path, 'x: 2\n');
    expect(readFileSync(path, 'utf8')).toBe('x: 2\n');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await expect(writeFileAtomic(join(dir, 'f.yaml', 'nested'), 'y')).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['f.yaml']);
  });
});
