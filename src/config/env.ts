/**
 * `.env` files and `${VAR}` / `$VAR` substitution, as the original did with python-dotenv and
 * `_substitute_env_vars`. Nothing here reads or writes `process.env`: the caller passes it in.
 */
import { basename, dirname, join } from 'node:path';

export type Env = Readonly<Record<string, string | undefined>>;
export type Path = readonly (string | number)[];

export interface MissingVar {
  readonly name: string;
  /** Where the placeholder sits in the substituted value, e.g. `['model_list', 1, 'model_params', 'api_key']`. */
  readonly path: Path;
}

const VAR_PATTERN = /\$\{([^}]+)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;
const ASSIGNMENT = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(?:=\s*([\s\S]*))?$/;
const DOUBLE_QUOTE_ESCAPES: Readonly<Record<string, string>> = {
  n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\', "'": "'",
};

/** `config_<suffix>.yaml` → `.env_<suffix>` beside it; any other name → `.env` beside it. */
export function envFileFor(configPath: string): string {
  const match = /^config_(.+)\.ya?ml$/.exec(basename(configPath));
  return join(dirname(configPath), match ? `.env_${match[1]}` : '.env');
}

/**
 * Parses dotenv text: `KEY=VALUE`, optional `export `, `#` comments, single quotes (literal),
 * double quotes (escapes, may span lines). Keys without a value or with a blank one are dropped,
 * like python-dotenv's `None`, so they fall through to the process environment.
 */
export function parseDotenv(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (/^\s*(#|$)/.test(line)) continue;
    const match = ASSIGNMENT.exec(line);
    if (!match || match[2] === undefined) continue;
    const key = match[1] ?? '';
    let raw = match[2];
    const quote = raw[0];
    if (quote === '"' || quote === "'") {
      // A quoted value may continue on the following lines until its closing quote.
      while (findClosingQuote(raw, quote) < 0 && i + 1 < lines.length) raw += `\n${lines[++i] ?? ''}`;
    }
    const value = parseValue(raw);
    if (value !== '') values[key] = value;
  }
  return values;
}

function findClosingQuote(raw: string, quote: string): number {
  for (let j = 1; j < raw.length; j++) {
    if (raw[j] === '\\') j++;
    else if (raw[j] === quote) return j;
  }
  return -1;
}

function parseValue(raw: string): string {
  const quote = raw[0];
  if (quote === '"' || quote === "'") {
    const end = findClosingQuote(raw, quote);
    if (end >= 0) {
      const inner = raw.slice(1, end);
      return quote === "'"
        ? inner.replace(/\\(['\\])/g, '$1')
        : inner.replace(/\\(.)/g, (all, ch: string) => DOUBLE_QUOTE_ESCAPES[ch] ?? all);
    }
  }
  // Unquoted: an inline comment starts at a `#` preceded by whitespace.
  return raw.replace(/\s+#.*$/, '').trim();
}

/**
 * Replaces `${VAR}` and `$VAR` in every string value of `value` (keys and non-strings untouched),
 * looking up `fileEnv` first, then `processEnv`. An unset variable keeps its placeholder text and is
 * reported with its path. There is no `${VAR:-default}` syntax and no escape for a literal `$`,
 * as in the original. The input is not mutated.
 */
export function substituteEnv(
  value: unknown,
  fileEnv: Env,
  processEnv: Env,
): { value: unknown; missing: MissingVar[] } {
  const missing: MissingVar[] = [];
  const lookup = (name: string): string | undefined =>
    Object.hasOwn(fileEnv, name) && fileEnv[name] !== undefined
      ? fileEnv[name]
      : Object.hasOwn(processEnv, name) ? processEnv[name] : undefined;

  const walk = (node: unknown, path: Path): unknown => {
    if (typeof node === 'string') {
      return node.replace(VAR_PATTERN, (placeholder, braced?: string, bare?: string) => {
        const name = braced ?? bare ?? '';
        const found = lookup(name);
        if (found !== undefined) return found;
        missing.push({ name, path });
        return placeholder;
      });
    }
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i]));
    if (isPlainObject(node)) {
      return Object.fromEntries(Object.entries(node).map(([k, item]) => [k, walk(item, [...path, k])]));
    }
    return node;
  };
  return { value: walk(value, []), missing };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
