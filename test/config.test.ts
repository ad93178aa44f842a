import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { extractTargetModel } from '../src/config/build.ts';
import { envFileFor, parseDotenv, substituteEnv } from '../src/config/env.ts';
import { deepMerge, resolveInheritance } from '../src/config/extends.ts';
import { defaultConfigPaths, loadConfig } from '../src/config/load.ts';
import type { LoadResult } from '../src/config/load.ts';
import type { BackendConfig, ProxyConfig } from '../src/config/types.ts';

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT = 'configs/config_default.yaml';
const ADDED = 'configs/config_added.yaml';
const tempDirs: string[] = [];

afterEach(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A throwaway project root holding the given files (paths relative to it). */
function project(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'yallmp-config-'));
  tempDirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

/** Loads from a fresh project; an empty added file is provided unless `files` has its own. */
function load(files: Record<string, string>, env: Record<string, string | undefined> = {}): LoadResult {
  const rootDir = project({ [ADDED]: 'model_list: []\n', ...files });
  return loadConfig({ defaultPath: DEFAULT, addedPath: ADDED, env, rootDir });
}

function loadOk(files: Record<string, string>, env: Record<string, string | undefined> = {}) {
  const result = load(files, env);
  if (!result.ok) throw new Error(`expected a valid config, got:\n${result.errors.join('\n')}`);
  return result;
}

function loadErrors(files: Record<string, string>, env: Record<string, string | undefined> = {}): string[] {
  const result = load(files, env);
  if (result.ok) throw new Error('expected config errors');
  return result.errors;
}

function backend(config: ProxyConfig, name: string): BackendConfig {
  const found = config.backends.get(name);
  if (!found) throw new Error(`no backend ${name}`);
  return found;
}

/** A minimal valid model entry in YAML flow style. */
const model = (name: string, extra = '') =>
  `  - {model_name: ${name}, model_params: {api_base: "https://${name}.test/v1"${extra}}}\n`;

describe('parseDotenv', () => {
  it('reads KEY=VALUE lines the way python-dotenv does', () => {
    const text = [
      '# a comment',
      'PLAIN=value',
      'export EXPORTED=yes',
      '  SPACED = padded  ',
      'DOUBLE="line1\\nline2 \\"q\\" # kept"',
      'INLINE=abc # comment',
      'HASH=a#b',
      'EMPTY=',
      'QUOTED_EMPTY=""',
      'NO_VALUE',
      'MULTI="first',
      'second"',
      'WINDOWS=crlf\r',
      'PLAIN=overridden',
    ].join('\n');
    expect(parseDotenv(text)).toEqual({
      PLAIN: 'overridden',
      EXPORTED: 'yes',
      SPACED: 'padded',
      DOUBLE: 'line1\nline2 "q" # kept',
      INLINE: 'abc',
      HASH: 'a#b',
      MULTI: 'first\nsecond',
      WINDOWS: 'crlf',
    });
  });

  it('keeps single-quoted text literal', () => {
    expect(parseDotenv("KEY='a $B ${C} \\n # d'")).toEqual({ KEY: 'a $B ${C} \\n # d' });
  });
});

describe('envFileFor', () => {
  it('derives .env_<suffix> from config_<suffix>.yaml, else .env', () => {
    expect(envFileFor('/x/configs/config_default.yaml')).toBe('/x/configs/.env_default');
    expect(envFileFor('/x/configs/config_added.yml')).toBe('/x/configs/.env_added');
    expect(envFileFor('/x/other.yaml')).toBe('/x/.env');
  });
});

describe('substituteEnv', () => {
  it('replaces ${VAR} and $VAR, several per string, in values only', () => {
    const input = { key_$A: 'pre-${A}-mid-$B-${A}', list: ['$B', 7, true, null], nested: { n: '${A}/v1' } };
    const { value, missing } = substituteEnv(input, { A: 'a' }, { B: 'b' });
    expect(value).toEqual({ key_$A: 'pre-a-mid-b-a', list: ['b', 7, true, null], nested: { n: 'a/v1' } });
    expect(missing).toEqual([]);
    expect(input.key_$A).toBe('pre-${A}-mid-$B-${A}');
  });

  it('prefers the env file over the process environment', () => {
    expect(substituteEnv('$K', { K: 'file' }, { K: 'process' }).value).toBe('file');
    expect(substituteEnv('$K', {}, { K: 'process' }).value).toBe('process');
    expect(substituteEnv('$K', {}, { K: '' }).value).toBe('');
  });

  it('leaves unset variables in place and reports each with its path', () => {
    const { value, missing } = substituteEnv({ a: [{ b: 'x ${NOPE} $ALSO_NOPE' }], c: '${X:-dflt}' }, {}, {});
    expect(value).toEqual({ a: [{ b: 'x ${NOPE} $ALSO_NOPE' }], c: '${X:-dflt}' });
    expect(missing).toEqual([
      { name: 'NOPE', path: ['a', 0, 'b'] },
      { name: 'ALSO_NOPE', path: ['a', 0, 'b'] },
      { name: 'X:-dflt', path: ['c'] },
    ]);
  });
});

describe('deepMerge', () => {
  it('merges mappings, replaces lists and scalars, and mutates neither input', () => {
    const base = { a: { x: 1, y: [1, 2], deep: { k: 1 } }, b: 'base', c: [{ z: 1 }] };
    const derived = { a: { y: [3], deep: { j: 2 } }, c: null };
    const merged = deepMerge(base, derived);
    expect(merged).toEqual({ a: { x: 1, y: [3], deep: { k: 1, j: 2 } }, b: 'base', c: null });
    expect(base).toEqual({ a: { x: 1, y: [1, 2], deep: { k: 1 } }, b: 'base', c: [{ z: 1 }] });
    expect(derived).toEqual({ a: { y: [3], deep: { j: 2 } }, c: null });
    expect((merged.a as { deep: unknown }).deep).not.toBe(base.a.deep);
  });
});

describe('resolveInheritance', () => {
  const chain = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ model_name: `m${i}`, extends: i + 1 < n ? `m${i + 1}` : undefined }));

  it('allows 10 levels and rejects 11, naming the chain', () => {
    expect(resolveInheritance(chain(11))[0]).toMatchObject({ ok: true, chain: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10] });
    expect(resolveInheritance(chain(12))[0]).toEqual({
      ok: false,
      error:
        "Maximum inheritance depth (10) exceeded for model 'm0': " +
        'm0 -> m1 -> m2 -> m3 -> m4 -> m5 -> m6 -> m7 -> m8 -> m9 -> m10 -> m11',
    });
  });

  it('looks bases up by name, last definition wins', () => {
    const [, , derived] = resolveInheritance([
      { model_name: 'base', v: 1 },
      { model_name: 'base', v: 2 },
      { model_name: 'child', extends: 'base' },
    ]);
    expect(derived).toEqual({ ok: true, entry: { model_name: 'child', v: 2 }, chain: [2, 1] });
  });
});

describe('extractTargetModel', () => {
  it.each([
    [{ model: 'openai/gpt-4o-mini' }, 'openai', 'gpt-4o-mini'],
    [{ model: 'OpenAI/gpt-4' }, 'openai', 'gpt-4'],
    [{ model: 'z-ai/glm-4.6:thinking' }, 'openai', 'z-ai/glm-4.6:thinking'],
    [{ model: 'anthropic/claude' }, 'anthropic', 'claude'],
    [{ model: 'openai/gpt-4' }, 'anthropic', 'gpt-4'],
    [{ model: 'openai/' }, 'openai', 'openai/'],
    [{ model: 'plain' }, 'openai', 'plain'],
    [{ model: 'openai/x', target_model: 'openai/kept' }, 'openai', 'openai/kept'],
    [{ model: 'openai/x', forward_model: 'fwd' }, 'openai', 'fwd'],
    [{}, 'openai', null],
  ])('%j with api_type %s → %s', (params, apiType, expected) => {
    expect(extractTargetModel(params, apiType)).toBe(expected);
  });

  it('is applied to loaded entries (blank target_model falls back to model)', () => {
    const { config } = loadOk({
      [DEFAULT]: `model_list:\n${model('a', ', model: " openai/gpt-4o ", target_model: ""')}${model('b')}`,
    });
    expect(backend(config, 'a').targetModel).toBe('gpt-4o');
    expect(backend(config, 'b').targetModel).toBeNull();
  });
});

describe('loadConfig: files, env files and substitution', () => {
  it('loads the shipped configs/config_default.yaml with no environment set', () => {
    // Copied into a fresh root so that a developer's own configs/.env_* cannot change the outcome.
    const shipped = (name: string) => readFileSync(join(PROJECT_ROOT, name), 'utf8');
    const rootDir = project({ [DEFAULT]: shipped(DEFAULT), [ADDED]: shipped(ADDED) });
    const result = loadConfig({ ...defaultConfigPaths({}, rootDir), env: {}, rootDir });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    const { config, warnings } = result;
    expect([...config.backends.keys()]).toEqual(['gpt-4o-mini', 'gpt-4o-mini-precise', 'llama-3.3-70b']);
    expect(backend(config, 'gpt-4o-mini-precise')).toEqual({
      name: 'gpt-4o-mini-precise',
      apiBase: 'https://api.openai.com/v1',
      apiKey: '${OPENAI_API_KEY}',
      targetModel: 'gpt-4o-mini',
      apiType: 'openai',
      requestTimeoutMs: 60_000,
      supportsReasoning: false,
      parameters: { temperature: { default: 0, allowOverride: false } },
      source: 'default',
      missingEnv: ['OPENAI_API_KEY'],
    });
    expect(config.fallbacks).toEqual({ 'gpt-4o-mini': ['llama-3.3-70b'], 'gpt-4o-mini-precise': ['llama-3.3-70b'] });
    expect(config.numRetries).toBe(2);
    expect(config.server).toEqual({ host: '127.0.0.1', port: 7979 });
    expect(config.database.backend).toBe('sqlite');
    expect(config.database.sqlite.path).toBe(join(rootDir, 'logs/yaLLM.db'));
    const unset = (name: string, at: string) =>
      `${DEFAULT}: environment variable '${name}' is not set (${at})`;
    expect(warnings).toEqual([
      unset('OPENAI_API_KEY', 'model_list.0.model_params.api_key'),
      unset('OPENROUTER_API_KEY', 'model_list.2.model_params.api_key'),
      unset('DB_USER', 'database.connection.postgres.user'),
      unset('DB_PASSWORD', 'database.connection.postgres.password'),
    ]);
  });

  it('substitutes each file with its own env file, which beats the process env', () => {
    const { config, warnings } = loadOk(
      {
        [DEFAULT]: `model_list:\n${model('d', ', api_key: "${KEY}-$KEY-${OTHER}"')}`,
        'configs/.env_default': 'KEY=from-default-file\n',
        [ADDED]: `model_list:\n${model('a', ', api_key: "${KEY}"')}`,
        'configs/.env_added': 'export KEY="from-added-file"\n',
      },
      { KEY: 'from-process', OTHER: 'other-from-process' },
    );
    expect(backend(config, 'd').apiKey).toBe('from-default-file-from-default-file-other-from-process');
    expect(backend(config, 'a').apiKey).toBe('from-added-file');
    expect(warnings).toEqual([]);
  });

  it('lets the default file read .env_added after .env_default (DB credentials, as the seed says)', () => {
    const { config, warnings } = loadOk(
      {
        [DEFAULT]: [
          `model_list:\n${model('d', ', api_key: "${KEY}"')}`,
          'database:',
          '  connection:',
          '    postgres: { user: "${DB_USER}", password: "${DB_PASSWORD}" }',
        ].join('\n'),
        'configs/.env_default': 'KEY=from-default-file\nDB_USER=default-user\n',
        'configs/.env_added': 'KEY=from-added-file\nDB_USER=added-user\nDB_PASSWORD=added-pass\n',
      },
      { DB_PASSWORD: 'from-process' },
    );
    expect(backend(config, 'd').apiKey).toBe('from-default-file');
    expect(config.database.postgres.user).toBe('default-user');
    expect(config.database.postgres.password).toBe('added-pass');
    expect(warnings).toEqual([]);
  });

  it('warns about unset variables and lists them in missingEnv, inherited ones included', () => {
    const { config, warnings } = loadOk({
      [DEFAULT]: [
        'model_list:',
        '  - model_name: base',
        '    model_params: {api_base: "https://x.test/v1", api_key: "${GLM_API_KEY}", model: "$GLM_MODEL"}',
        '  - {model_name: child, extends: base}',
        '  - {model_name: rekeyed, extends: base, model_params: {api_key: literal}}',
        '  - {model_name: unset-base, model_params: {api_base: "${HOST_URL}/v1"}}',
      ].join('\n'),
    });
    expect(warnings).toEqual([
      `${DEFAULT}: environment variable 'GLM_API_KEY' is not set (model_list.0.model_params.api_key)`,
      `${DEFAULT}: environment variable 'GLM_MODEL' is not set (model_list.0.model_params.model)`,
      `${DEFAULT}: environment variable 'HOST_URL' is not set (model_list.3.model_params.api_base)`,
    ]);
    expect(backend(config, 'base').missingEnv).toEqual(['GLM_API_KEY', 'GLM_MODEL']);
    expect(backend(config, 'base').apiKey).toBe('${GLM_API_KEY}');
    expect(backend(config, 'child').missingEnv).toEqual(['GLM_API_KEY', 'GLM_MODEL']);
    expect(backend(config, 'rekeyed').missingEnv).toEqual(['GLM_MODEL']);
    // An unset variable in api_base is a warning, not a start-up failure: the model refuses requests.
    expect(backend(config, 'unset-base')).toMatchObject({ apiBase: '${HOST_URL}/v1', missingEnv: ['HOST_URL'] });
  });

  it('fails when the default file is missing, tolerates (without creating) a missing added file', () => {
    const root = project({});
    const missing = loadConfig({ defaultPath: DEFAULT, addedPath: ADDED, env: {}, rootDir: root });
    expect(missing).toEqual({
      ok: false,
      errors: [`Config file not found: ${join(root, DEFAULT)}`],
      warnings: [`${ADDED}: not found; no added models or fallbacks loaded`],
    });

    const onlyDefault = project({ [DEFAULT]: `model_list:\n${model('a')}` });
    const result = loadConfig({ defaultPath: DEFAULT, addedPath: ADDED, env: {}, rootDir: onlyDefault });
    expect(result).toMatchObject({ ok: true, warnings: [`${ADDED}: not found; no added models or fallbacks loaded`] });
    expect(existsSync(join(onlyDefault, ADDED))).toBe(false);
  });

  it('treats an empty file as {} and accepts zero models with a warning', () => {
    const { config, warnings } = loadOk({ [DEFAULT]: '', [ADDED]: '# nothing\n' });
    expect(config.backends.size).toBe(0);
    expect(config.fallbacks).toEqual({});
    expect(warnings).toEqual([`${DEFAULT}: no models configured; every request will fail until one is added`]);
  });

  it('reports YAML syntax errors with file and line', () => {
    expect(loadErrors({ [DEFAULT]: 'model_list:\n  - model_name: a\n    bad: [1, 2\nproxy_settings: {}\n' })).toEqual([
      `${DEFAULT}: line 4, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]`,
    ]);
    expect(loadErrors({ [DEFAULT]: 'a: 1\na: 2\n', [ADDED]: '- 1\n' })).toEqual([
      `${DEFAULT}: line 2, column 1: Map keys must be unique`,
      `${ADDED}: expected a mapping at the top level, got a list`,
    ]);
  });

  it('resolves relative paths against rootDir, keeping absolute paths and :memory:', () => {
    const rootDir = project({
      'elsewhere/default.yaml': [
        'proxy_settings: {logging: {dir: my/logs}}',
        'database: {connection: {sqlite: {path: ":memory:"}}, spool_dir: /abs/spool}',
      ].join('\n'),
    });
    const result = loadConfig({ defaultPath: 'elsewhere/default.yaml', addedPath: 'none.yaml', env: {}, rootDir });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    expect(result.config.logging.dir).toBe(join(rootDir, 'my/logs'));
    expect(result.config.database.sqlite.path).toBe(':memory:');
    expect(result.config.database.spoolDir).toBe('/abs/spool');
  });

  it('picks config paths from YALLMP_CONFIG_DEFAULT / YALLMP_CONFIG_ADDED', () => {
    expect(defaultConfigPaths({}, '/root')).toEqual({
      defaultPath: '/root/configs/config_default.yaml',
      addedPath: '/root/configs/config_added.yaml',
    });
    expect(defaultConfigPaths({ YALLMP_CONFIG_DEFAULT: 'x/d.yaml', YALLMP_CONFIG_ADDED: '/abs/a.yaml' }, '/root'))
      .toEqual({ defaultPath: '/root/x/d.yaml', addedPath: '/abs/a.yaml' });
  });
});

describe('loadConfig: models', () => {
  it('accepts parameters at entry level and under model_params, entry level winning per key', () => {
    const { config } = loadOk({
      [DEFAULT]: [
        'model_list:',
        '  - model_name: m',
        '    model_params:',
        '      api_base: https://m.test/v1',
        '      parameters:',
        '        temperature: {default: 0.9}',
        '        top_p: {default: 0.5, allow_override: "off"}',
        '    parameters:',
        '      temperature: {default: 0.1, allow_override: false}',
        '      stop: {default: null}',
      ].join('\n'),
    });
    expect(backend(config, 'm').parameters).toEqual({
      temperature: { default: 0.1, allowOverride: false },
      top_p: { default: 0.5, allowOverride: false },
      stop: { default: null, allowOverride: true },
    });
  });

  it('applies model defaults and coerces strings from substitution', () => {
    const { config } = loadOk(
      {
        [DEFAULT]: [
          'model_list:',
          '  - {model_name: plain, model_params: {api_base: "http://localhost:8000/v1"}}',
          '  - model_name: tuned',
          '    parsers: {enabled: true}',
          '    model_params: {api_base: "https://t.test/v1", api_type: " Anthropic ", model: anthropic/claude,',
          '                   request_timeout: "${T}", supports_reasoning: "${R}", http2: true, api_key: null}',
        ].join('\n'),
      },
      { T: '2.5', R: 'yes' },
    );
    expect(backend(config, 'plain')).toEqual({
      name: 'plain',
      apiBase: 'http://localhost:8000/v1',
      apiKey: '',
      targetModel: null,
      apiType: 'openai',
      requestTimeoutMs: 60_000,
      supportsReasoning: false,
      parameters: {},
      source: 'default',
      missingEnv: [],
    });
    expect(backend(config, 'tuned')).toMatchObject({
      apiType: 'anthropic',
      targetModel: 'claude',
      requestTimeoutMs: 2500,
      supportsReasoning: true,
      apiKey: '',
    });
  });

  it('resolves extends with a deep merge: mappings merged, lists replaced, chains followed', () => {
    const { config } = loadOk({
      [DEFAULT]: [
        'model_list:',
        '  - model_name: root',
        '    model_params: {api_base: "https://root.test/v1", api_key: k, model: openai/root-model, request_timeout: 30}',
        '    parameters: {stop: {default: [a, b]}, temperature: {default: 1}}',
        '  - model_name: mid',
        '    extends: root',
        '    model_params: {request_timeout: 45}',
        '    parameters: {stop: {default: [c]}}',
        '  - model_name: leaf',
        '    extends: mid',
        '    model_params: {model: openai/leaf-model, supports_reasoning: true}',
      ].join('\n'),
    });
    expect(backend(config, 'leaf')).toEqual({
      name: 'leaf',
      apiBase: 'https://root.test/v1',
      apiKey: 'k',
      targetModel: 'leaf-model',
      apiType: 'openai',
      requestTimeoutMs: 45_000,
      supportsReasoning: true,
      parameters: { stop: { default: ['c'], allowOverride: true }, temperature: { default: 1, allowOverride: true } },
      source: 'default',
      missingEnv: [],
    });
    expect(backend(config, 'root').parameters.stop).toEqual({ default: ['a', 'b'], allowOverride: true });
  });

  it('reports cycles, self-reference, missing bases and depth > 10 as errors with the chain', () => {
    const deep = Array.from({ length: 12 }, (_, i) =>
      i < 11 ? `  - {model_name: d${i}, extends: d${i + 1}}` : model('d11').trimEnd());
    const errors = loadErrors({
      [DEFAULT]: [
        'model_list:',
        '  - {model_name: a, extends: b}',
        '  - {model_name: b, extends: a}',
        '  - {model_name: self, extends: self}',
        '  - {model_name: orphan, extends: ghost}',
        '  - {model_name: grandchild, extends: orphan}',
        ...deep,
      ].join('\n'),
    });
    expect(errors).toEqual([
      `${DEFAULT}: model_list.0.extends: Circular inheritance detected for model 'a': a -> b -> a`,
      `${DEFAULT}: model_list.1.extends: Circular inheritance detected for model 'b': b -> a -> b`,
      `${DEFAULT}: model_list.2.extends: Circular inheritance detected for model 'self': self -> self`,
      `${DEFAULT}: model_list.3.extends: Model 'orphan' extends 'ghost', but base model not found`,
      `${DEFAULT}: model_list.4.extends: Model 'orphan' extends 'ghost', but base model not found (grandchild -> orphan -> ghost)`,
      `${DEFAULT}: model_list.5.extends: Maximum inheritance depth (10) exceeded for model 'd0': ` +
        'd0 -> d1 -> d2 -> d3 -> d4 -> d5 -> d6 -> d7 -> d8 -> d9 -> d10 -> d11',
    ]);
  });

  it('lets added models replace default ones in place and extend them across files', () => {
    const { config, warnings } = loadOk({
      [DEFAULT]: `model_list:\n${model('first')}${model('shared', ', api_key: default-key')}${model('last')}`,
      [ADDED]: [
        'model_list:',
        '  - {model_name: shared, model_params: {api_base: "https://added.test/v1"}}',
        '  - {model_name: extra, extends: last, model_params: {model: openai/extra}}',
      ].join('\n'),
    });
    expect(warnings).toEqual([]);
    expect([...config.backends.keys()]).toEqual(['first', 'shared', 'last', 'extra']);
    expect(backend(config, 'shared')).toMatchObject({ apiBase: 'https://added.test/v1', apiKey: '', source: 'added' });
    expect(backend(config, 'extra')).toMatchObject({
      apiBase: 'https://last.test/v1',
      targetModel: 'extra',
      source: 'added',
    });
  });

  it('warns about a duplicate name inside one file; the later entry wins', () => {
    const { config, warnings } = loadOk({ [DEFAULT]: `model_list:\n${model('m')}${model('m', ', api_key: two')}` });
    expect(backend(config, 'm').apiKey).toBe('two');
    expect(warnings).toEqual([`${DEFAULT}: model_list.1: duplicate model 'm'; this later entry wins`]);
  });
});

describe('loadConfig: router settings', () => {
  it('turns a string into a list, appends added fallbacks, last definition wins, warns on unknown names', () => {
    const { config, warnings } = loadOk({
      [DEFAULT]: [
        'model_list:',
        model('a').trimEnd(),
        model('b').trimEnd(),
        model('c').trimEnd(),
        'router_settings:',
        '  num_retries: "3"',
        '  fallbacks:',
        '    - a: b',
        '    - {b: [c, a], c: [a]}',
        '    - a: [c]',
        '    - ghost: [a, phantom]',
      ].join('\n'),
      [ADDED]: 'model_list: []\nrouter_settings:\n  num_retries: 9\n  fallbacks:\n    - b: a\n',
    });
    expect(config.numRetries).toBe(3);
    expect(config.fallbacks).toEqual({ a: ['c'], b: ['a'], c: ['a'], ghost: ['a', 'phantom'] });
    expect(warnings).toEqual([
      `${ADDED}: router_settings.num_retries is ignored (the added config provides only router_settings.fallbacks)`,
      `${DEFAULT}: router_settings.fallbacks.3.ghost: model 'ghost' is not defined`,
      `${DEFAULT}: router_settings.fallbacks.3.ghost: model 'phantom' is not defined`,
    ]);
  });

  it('ignores (with a warning) every other section of the added file', () => {
    const { config, warnings } = loadOk({
      [DEFAULT]: `model_list:\n${model('a')}`,
      [ADDED]: 'model_list: []\nproxy_settings: {server: {port: 1}}\ndatabase: {backend: nope}\n',
    });
    expect(config.server.port).toBe(7979);
    expect(config.database.backend).toBe('sqlite');
    expect(warnings).toEqual([
      `${ADDED}: section 'proxy_settings' is ignored (the added config provides only model_list and router_settings.fallbacks)`,
      `${ADDED}: section 'database' is ignored (the added config provides only model_list and router_settings.fallbacks)`,
    ]);
  });
});

describe('loadConfig: settings', () => {
  it('fills every default from the schema', () => {
    const { config } = loadOk({ [DEFAULT]: `model_list:\n${model('a')}` });
    const rootDir = dirname(dirname(config.database.sqlite.path));
    expect({ ...config, backends: undefined }).toEqual({
      backends: undefined,
      fallbacks: {},
      numRetries: 1,
      server: { host: '127.0.0.1', port: 7979 },
      enableResponsesEndpoint: false,
      maxRequestBytes: 10_485_760,
      maxResponseBytes: 8_388_608,
      maxUpstreamConnections: 4_096,
      timeouts: { connectMs: 10_000, streamIdleMs: 120_000, bodyMs: 600_000 },
      retry: { baseDelayMs: 250, maxDelayMs: 2_000, maxRetryAfterMs: 10_000 },
      logging: {
        filesEnabled: true,
        dir: join(rootDir, 'logs/requests'),
        maxBodyBytes: 262_144,
        maxStreamChunks: 2_000,
        maxStreamChunkBytes: 1_048_576,
        redactHeaders: [],
      },
      database: {
        enabled: true,
        backend: 'sqlite',
        autoMigrate: true,
        sqlite: { path: join(rootDir, 'logs/yaLLM.db') },
        postgres: { host: 'localhost', port: 5432, database: 'yallm_proxy', user: 'postgres', password: '' },
        poolSize: 5,
        maxOverflow: 10,
        batchMaxRows: 2000,
        batchMaxMs: 200,
        queueMaxRows: 50_000,
        spoolDir: join(rootDir, 'logs/spool'),
        retention: { rawDays: 30, minuteRollupDays: 7, hourRollupDays: 0, intervalMs: 600_000 },
      },
    });
  });

  it('normalises values and honours the legacy general_settings switch', () => {
    const { config } = loadOk({
      [DEFAULT]: [
        'general_settings: {enable_responses_endpoint: "on"}',
        'forwarder_settings: {listen: {port: 6969}}',
        'proxy_settings:',
        '  logging: {redact_headers: [X-Secret, " Cookie2 "], log_parsed_response: true}',
        '  server:',
        'database:',
        '  backend: PostgreSQL',
        '  connection: {postgres: {port: "6543", user: "${DB_USER}"}}',
      ].join('\n'),
    }, { DB_USER: 'alice' });
    expect(config.enableResponsesEndpoint).toBe(true);
    expect(config.logging.redactHeaders).toEqual(['x-secret', 'cookie2']);
    expect(config.server).toEqual({ host: '127.0.0.1', port: 7979 });
    expect(config.database.backend).toBe('postgres');
    expect(config.database.postgres).toMatchObject({ port: 6543, user: 'alice' });

    const explicit = loadOk({
      [DEFAULT]: 'general_settings: {enable_responses_endpoint: true}\nproxy_settings: {enable_responses_endpoint: false}',
    });
    expect(explicit.config.enableResponsesEndpoint).toBe(false);
  });

  it('lets YALLMP_HOST / YALLMP_PORT override proxy_settings.server', () => {
    const files = { [DEFAULT]: 'proxy_settings: {server: {host: 0.0.0.0, port: 8000}}' };
    expect(loadOk(files, { YALLMP_HOST: '::1', YALLMP_PORT: ' 9090 ' }).config.server).toEqual({ host: '::1', port: 9090 });
    expect(loadOk(files, { YALLMP_HOST: '', YALLMP_PORT: '' }).config.server).toEqual({ host: '0.0.0.0', port: 8000 });
    expect(loadErrors(files, { YALLMP_PORT: '80a' })).toEqual([
      'YALLMP_PORT: Invalid port "80a" (expected an integer from 0 to 65535)',
    ]);
  });

  it('returns a deep-frozen config', () => {
    const { config } = loadOk({ [DEFAULT]: `model_list:\n${model('a', ', parameters: {t: {default: {x: 1}}}')}` });
    const params = backend(config, 'a').parameters;
    expect(Object.isFrozen(config.logging)).toBe(true);
    expect(Object.isFrozen(params.t?.default)).toBe(true);
    expect(() => (config.backends as Map<string, BackendConfig>).set('b', backend(config, 'a'))).toThrow(TypeError);
    expect(() => {
      (config.database as { poolSize: number }).poolSize = 1;
    }).toThrow(TypeError);
  });
});

describe('loadConfig: validation errors', () => {
  it('lists every problem of both files by file and dot-path', () => {
    const errors = loadErrors({
      [DEFAULT]: [
        'model_list:',
        '  - model_name: ok',
        '    model_params: {api_base: "https://ok.test/v1"}',
        '  - model_params: {api_base: "https://noname.test"}',
        '  - model_name: bad',
        '    model_params:',
        '      api_base: foo',
        '      request_timeout: 0',
        '      supports_reasoning: maybe',
        '      api_key: 42',
        '    parameters: {temperature: {allow_override: true}, top_p: 0.5}',
        '  - {model_name: nobase, model_params: {api_key: x}}',
        '  - {model_name: noparams}',
        '  - just a string',
        'router_settings: {num_retries: 0, fallbacks: [{ok: [1]}, oops]}',
        'proxy_settings:',
        '  server: {port: 70000, host: ""}',
        '  timeouts: {connect_ms: -1}',
        '  logging: {files: sometimes}',
        'database: {backend: mysql, pool_size: "x", connection: {postgres: {port: 5.5}}}',
      ].join('\n'),
      [ADDED]: [
        'model_list:',
        '  - {model_name: "", model_params: {api_base: "ftp://x.test"}}',
        '  - {model_name: added-bad, model_params: {api_base: "ftp://x.test"}}',
        'router_settings: {fallbacks: {a: b}}',
      ].join('\n'),
    });
    const d = (path: string, message: string) => `${DEFAULT}: ${path}: ${message}`;
    const a = (path: string, message: string) => `${ADDED}: ${path}: ${message}`;
    expect(errors).toEqual([
      d('router_settings.num_retries', 'Invalid value: Expected >=1 but received 0'),
      d('router_settings.fallbacks.0.ok.0', 'Invalid type: Expected string but received 1'),
      d('router_settings.fallbacks.1', 'Invalid type: Expected Object but received "oops"'),
      d('proxy_settings.server.host', 'must not be empty'),
      d('proxy_settings.server.port', 'Invalid value: Expected <=65535 but received 70000'),
      d('proxy_settings.timeouts.connect_ms', 'Invalid value: Expected >=1 but received -1'),
      d('proxy_settings.logging.files', 'Invalid type: Expected boolean but received "sometimes"'),
      d('database.backend', 'Invalid backend "mysql" (expected sqlite, postgres or postgresql)'),
      d('database.connection.postgres.port', 'Invalid integer: Received 5.5'),
      d('database.pool_size', 'Invalid type: Expected number but received "x"'),
      a('router_settings.fallbacks', 'Invalid type: Expected Array but received Object'),
      d('model_list.1.model_name', 'is required'),
      d('model_list.5', 'Invalid type: Expected Object but received "just a string"'),
      a('model_list.0.model_name', 'must not be empty'),
      d('model_list.2.model_params.api_base', 'Invalid URL "foo" (expected an http:// or https:// URL)'),
      d('model_list.2.model_params.api_key', 'Invalid type: Expected string but received 42'),
      d('model_list.2.model_params.request_timeout', 'Invalid value: Expected >0 but received 0'),
      d('model_list.2.model_params.supports_reasoning', 'Invalid type: Expected boolean but received "maybe"'),
      d('model_list.2.parameters.temperature.default', 'is required'),
      d('model_list.2.parameters.top_p', 'Invalid type: Expected Object but received 0.5'),
      d('model_list.3.model_params.api_base', 'is required'),
      d('model_list.4.model_params', 'is required'),
      a('model_list.1.model_params.api_base', 'Invalid URL "ftp://x.test" (expected an http:// or https:// URL)'),
    ]);
  });

  it('rejects a model_list that is not a list', () => {
    expect(loadErrors({ [DEFAULT]: 'model_list: {a: 1}' })).toEqual([
      `${DEFAULT}: model_list: Invalid type: Expected Array but received Object`,
    ]);
  });
});
