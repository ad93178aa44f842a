import { sql, type Kysely } from 'kysely';
import { UNICODE_LOWER, decodeRow, type Dialect } from './dialect.ts';
import { ERROR_LOG_COLUMNS, REQUEST_LOG_COLUMNS, type Database, type ErrorLogRow, type RequestLogRow } from './schema.ts';

export interface LogsQuery {
  limit: number;
  model?: string | undefined;
  outcome?: string | undefined;
  status?: number | undefined;
  start?: Date | undefined;
  end?: Date | undefined;
  /** Case-insensitive substring of any of the request's error messages. */
  search?: string | undefined;
  /** Keyset cursor: the (request_time, id) of the last row of the previous page. */
  after?: { time: string; id: string } | undefined;
  /** Count the matching rows too, up to TOTAL_CAP (see `listLogs`). */
  withTotal?: boolean;
}

/**
 * `total` is counted only this far. An exact count of a million rows costs a scan of a million
 * index entries (~50–150 ms) on every first page; counting at most TOTAL_CAP + 1 costs a few ms
 * whatever the table holds. Beyond the cap `total` is null and `totalAtLeast` says how far it got.
 */
export const TOTAL_CAP = 10_000;

export interface LogsPage {
  rows: LogSummary[];
  next: { time: string; id: string } | null;
  /** Exact number of matching rows when asked for and at most TOTAL_CAP; otherwise null. */
  total: number | null;
  /** When the count stopped at the cap: more than this many rows match. */
  totalAtLeast: number | null;
}

/** The columns a list shows; bodies and chunks stay in the detail view. */
const SUMMARY = [
  'id',
  'request_time',
  'model_name',
  'is_stream',
  'path',
  'outcome',
  'status_code',
  'duration_ms',
  'ttfb_ms',
  'backend_name',
  'finish_reason',
  'prompt_tokens',
  'completion_tokens',
  'total_tokens',
  'client_key',
] as const;

export type LogSummary = Pick<RequestLogRow, (typeof SUMMARY)[number]>;

function ts(dialect: Dialect, d: Date | string) {
  const iso = typeof d === 'string' ? d : d.toISOString();
  return dialect === 'postgres' ? sql`${iso}::timestamptz` : sql`${iso}`;
}

const NON_ASCII = /[^\u0000-\u007f]/;

/**
 * Case-insensitive LIKE on `e.error_message`, the same on both dialects: PostgreSQL's ILIKE folds
 * every letter; SQLite's LIKE only ASCII ones, so a non-ASCII search lowers both sides with our
 * Unicode-aware function first (a per-row call, paid only by such searches).
 */
function matches(dialect: Dialect, pattern: string) {
  if (dialect === 'postgres') return sql`e.error_message ILIKE ${pattern} ESCAPE '\\'`;
  if (!NON_ASCII.test(pattern)) return sql`e.error_message LIKE ${pattern} ESCAPE '\\'`;
  const lower = sql.raw(UNICODE_LOWER);
  return sql`${lower}(e.error_message) LIKE ${lower}(${pattern}) ESCAPE '\\'`;
}

/**
 * Newest first, keyset-paginated on (request_time, id) so page N costs the same as page 1: the
 * cursor is a row-value bound, `(request_time, id) < (t, id)`, which both dialects turn into a
 * range on the indexes ending in (request_time, id) (migration 0003), and the list walks that index
 * in order and stops after one page, with or without a model or outcome filter.
 */
export async function listLogs(db: Kysely<Database>, dialect: Dialect, q: LogsQuery): Promise<LogsPage> {
  const filters = [sql`1 = 1`];
  if (q.model !== undefined) filters.push(sql`model_name = ${q.model}`);
  if (q.outcome !== undefined) filters.push(sql`outcome = ${q.outcome}`);
  if (q.status !== undefined) filters.push(sql`status_code = ${q.status}`);
  if (q.start) filters.push(sql`request_time >= ${ts(dialect, q.start)}`);
  if (q.end) filters.push(sql`request_time < ${ts(dialect, q.end)}`);
  if (q.search) {
    const pattern = `%${q.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    filters.push(sql`EXISTS (SELECT 1 FROM error_logs e WHERE e.request_log_id = request_logs.id AND ${matches(dialect, pattern)})`);
  }
  const where = sql.join(filters, sql` AND `);
  const page = q.after ? sql`AND (request_time, id) < (${ts(dialect, q.after.time)}, ${q.after.id})` : sql``;
  const cols = sql.join(SUMMARY.map((c) => sql.ref(c)));
  const { rows } = await sql<Record<string, unknown>>`
    SELECT ${cols} FROM request_logs WHERE ${where} ${page}
    ORDER BY request_time DESC, id DESC LIMIT ${q.limit + 1}`.execute(db);
  const pick = Object.fromEntries(SUMMARY.map((c) => [c, REQUEST_LOG_COLUMNS[c]]));
  const decoded = rows.slice(0, q.limit).map((r) => decodeRow(dialect, pick, r) as LogSummary);
  const last = decoded.at(-1);
  const next = rows.length > q.limit && last ? { time: last.request_time, id: last.id } : null;
  let total: number | null = null;
  let totalAtLeast: number | null = null;
  if (q.withTotal) {
    const { rows: c } = await sql<{ n: unknown }>`
      SELECT count(*) AS n FROM (SELECT 1 FROM request_logs WHERE ${where} LIMIT ${TOTAL_CAP + 1}) capped`.execute(db);
    const n = Number(c[0]?.n ?? 0);
    if (n > TOTAL_CAP) totalAtLeast = TOTAL_CAP;
    else total = n;
  }
  return { rows: decoded, next, total, totalAtLeast };
}

export async function getLog(
  db: Kysely<Database>,
  dialect: Dialect,
  id: string,
): Promise<{ request: RequestLogRow; errors: ErrorLogRow[] } | null> {
  // A malformed id would make PostgreSQL's uuid cast throw; it simply does not exist.
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return null;
  const row = await db.selectFrom('request_logs').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) return null;
  // Ties on timestamp are broken by id (derived from the request id and the error's position,
  // rows.ts), so both dialects list them in the same order.
  const errs = await db
    .selectFrom('error_logs')
    .selectAll()
    .where('request_log_id', '=', id)
    .orderBy('timestamp')
    .orderBy('id')
    .execute();
  return {
    request: decodeRow(dialect, REQUEST_LOG_COLUMNS, row as Record<string, unknown>) as RequestLogRow,
    errors: errs.map((e) => decodeRow(dialect, ERROR_LOG_COLUMNS, e as Record<string, unknown>) as ErrorLogRow),
  };
}
