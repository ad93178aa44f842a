/**
 * The one place that knows how each logical column kind is stored per dialect, and how values
 * cross that boundary. Writers encode with `encodeRow`, readers decode with `decodeRow`, so the
 * rest of the code sees the same values whichever backend is configured.
 *
 * Text is cleaned identically on BOTH dialects so that a row reads back the same everywhere:
 * - U+0000 is removed: PostgreSQL text and jsonb reject it (jsonb even as the `\u0000` escape),
 *   and one such character would otherwise fail a whole batch of inserts.
 * - Lone UTF-16 surrogates become U+FFFD: PostgreSQL rejects them in jsonb, and the UTF-8 encoder
 *   would replace them in text anyway.
 * jsonb also reorders object keys and keeps the last of duplicate keys, so compare decoded JSON
 * structurally, not by key order.
 */
import type {
  ColumnKind,
  ColumnSpec,
  DecodedRow,
  ErrorLogInput,
  ErrorLogsTable,
  RequestLogInput,
  RequestLogsTable,
  RowInput,
} from './schema.ts';
import { ERROR_LOG_COLUMNS, REQUEST_LOG_COLUMNS } from './schema.ts';
import type { Insertable } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

/** Name of the Unicode-aware lower() every SQLite connection of ours has (factory.ts). */
export const UNICODE_LOWER = 'yallmp_lower';

const SQL_TYPES: { readonly [D in Dialect]: { readonly [K in ColumnKind]: string } } = {
  postgres: {
    uuid: 'uuid',
    text: 'text',
    integer: 'integer',
    bigint: 'bigint',
    json: 'jsonb',
    timestamp: 'timestamptz',
    boolean: 'boolean',
  },
  sqlite: {
    uuid: 'text',
    text: 'text',
    integer: 'integer',
    bigint: 'integer',
    json: 'text',
    timestamp: 'text',
    boolean: 'integer',
  },
};

/** The DDL type of a column kind (migrations carry their own copy of this table). */
export function sqlType(dialect: Dialect, kind: ColumnKind): string {
  return SQL_TYPES[dialect][kind];
}

const NUL = /\u0000/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function cleanText(value: string): string {
  return value.replace(NUL, '').replace(LONE_SURROGATE, '\uFFFD');
}

/** Deep copy of a JSON-able value with every string (keys included) passed through `cleanText`. */
export function cleanJson(value: unknown): unknown {
  if (typeof value === 'string') return cleanText(value);
  if (Array.isArray(value)) return value.map(cleanJson);
  if (value !== null && typeof value === 'object') {
    const maybeJson = value as { toJSON?: () => unknown };
    if (typeof maybeJson.toJSON === 'function') return cleanJson(maybeJson.toJSON());
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v !== undefined) out[cleanText(k)] = cleanJson(v);
    }
    return out;
  }
  return value;
}

/**
 * What `Date#toISOString` writes for years 0000–9999 (UTC, milliseconds, `Z`), with every field
 * in range. Days 29–31 are left out rather than checked per month: they take the slow path.
 */
const CANONICAL_ISO = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;

/** True when `text` is exactly what `toISOString` would write for the instant it names. */
export function isCanonicalIso(text: string): boolean {
  return text.length === 24 && CANONICAL_ISO.test(text);
}

function toIsoUtc(value: unknown): string {
  // Records carry canonical text already: parsing and formatting it again gives the same string.
  if (typeof value === 'string' && isCanonicalIso(value)) return value;
  const date = value instanceof Date ? value : new Date(value as string | number);
  if (Number.isNaN(date.getTime())) throw new TypeError(`not a valid timestamp: ${String(value)}`);
  return date.toISOString();
}

export function encodeValue(dialect: Dialect, kind: ColumnKind, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  switch (kind) {
    case 'uuid':
    case 'text':
      return cleanText(String(value));
    // PostgreSQL rejects 1.5 for an integer column where SQLite would store a REAL; round on both.
    case 'integer':
    case 'bigint':
      return typeof value === 'number' && Number.isFinite(value) ? Math.round(value) : null;
    // A JS object or array handed to pg would be sent as a PG array literal; send JSON text.
    case 'json':
      return JSON.stringify(cleanJson(value));
    case 'timestamp':
      return toIsoUtc(value);
    case 'boolean':
      return dialect === 'sqlite' ? (value ? 1 : 0) : Boolean(value);
  }
}

export function decodeValue(dialect: Dialect, kind: ColumnKind, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  switch (kind) {
    case 'uuid':
    case 'text':
      return String(value);
    case 'integer':
    case 'bigint':
      return Number(value);
    case 'json':
      return dialect === 'sqlite' && typeof value === 'string' ? JSON.parse(value) : value;
    case 'timestamp':
      return toIsoUtc(value);
    case 'boolean':
      return typeof value === 'boolean' ? value : Number(value) !== 0;
  }
}

type Specs = Readonly<Record<string, ColumnSpec>>;

/** Encodes the columns present in `row`; absent ones are left out so defaults apply. */
export function encodeRow<S extends Specs>(
  dialect: Dialect,
  specs: S,
  row: RowInput<S>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const input = row as Record<string, unknown>;
  for (const [name, spec] of Object.entries(specs)) {
    if (input[name] !== undefined) out[name] = encodeValue(dialect, spec.kind, input[name]);
  }
  return out;
}

/** Decodes the columns of `specs` found in `row` (a partial select yields a partial row). */
export function decodeRow<S extends Specs>(
  dialect: Dialect,
  specs: S,
  row: Readonly<Record<string, unknown>>,
): DecodedRow<S> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row)) {
    const spec = specs[name];
    out[name] = spec ? decodeValue(dialect, spec.kind, value) : value;
  }
  return out as DecodedRow<S>;
}

export function encodeRequestLog(
  dialect: Dialect,
  row: RequestLogInput,
): Insertable<RequestLogsTable> {
  return encodeRow(dialect, REQUEST_LOG_COLUMNS, row) as unknown as Insertable<RequestLogsTable>;
}

export function encodeErrorLog(dialect: Dialect, row: ErrorLogInput): Insertable<ErrorLogsTable> {
  return encodeRow(dialect, ERROR_LOG_COLUMNS, row) as unknown as Insertable<ErrorLogsTable>;
}
