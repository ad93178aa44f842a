import { Hono } from 'hono';
import type { AppDeps } from '../app.ts';
import { getLog, listLogs, type LogsQuery } from '../db/logs-repo.ts';
import { errorResponse, errors, ProxyError } from '../openai/errors.ts';
import { parseInstant } from './usage.ts';

const MAX_LIMIT = 200;
/** Each large field of a detail answer is cut to this many characters (`?max_chars=` overrides, up to 1 MiB). */
const DEFAULT_MAX_CHARS = 65_536;

/**
 * `GET /api/logs` and `GET /api/logs/:id`. They expose request bodies, so `createApp` mounts the
 * admin guard in front of them.
 */
export function logsRoutes(deps: AppDeps): Hono {
  const app = new Hono();
  const unavailable = () =>
    errorResponse(
      new ProxyError('Database logging is disabled or the database is not reachable; there are no logs to query', {
        status: 404,
        type: 'invalid_request_error',
        code: 'logs_unavailable',
        logType: 'invalid_request',
      }),
    );

  app.get('/api/logs', async (c) => {
    const source = deps.usage?.();
    if (!source) return unavailable();
    const parsed = parseLogsQuery(new URL(c.req.url).searchParams);
    if (parsed instanceof ProxyError) return errorResponse(parsed);
    const { rows, next, total, totalAtLeast } = await listLogs(source.db, source.dialect, parsed);
    const cursor = next ? Buffer.from(JSON.stringify([next.time, next.id])).toString('base64url') : null;
    return c.json({ object: 'list', data: rows, next_cursor: cursor, has_more: cursor !== null, total, total_at_least: totalAtLeast });
  });

  app.get('/api/logs/:id', async (c) => {
    const source = deps.usage?.();
    if (!source) return unavailable();
    const maxRaw = c.req.query('max_chars');
    const max = maxRaw === undefined ? DEFAULT_MAX_CHARS : Number(maxRaw);
    if (!Number.isInteger(max) || max < 1 || max > 1_048_576) {
      return errorResponse(errors.invalidParameter('max_chars', "'max_chars' must be an integer between 1 and 1048576"));
    }
    const found = await getLog(source.db, source.dialect, c.req.param('id'));
    if (!found) {
      return errorResponse(
        new ProxyError(`No request log with id '${c.req.param('id')}'`, {
          status: 404,
          type: 'invalid_request_error',
          code: 'log_not_found',
          logType: 'invalid_request',
        }),
      );
    }
    const truncated: string[] = [];
    const request = { ...found.request } as Record<string, unknown>;
    for (const field of ['body', 'stream_chunks', 'backend_attempts', 'errors', 'headers']) {
      const text = canonicalJson(request[field] ?? null);
      if (text.length > max) {
        request[field] = { _truncated: true, _original_chars: text.length, _preview: text.slice(0, max) };
        truncated.push(field);
      }
    }
    return c.json({ ...request, error_logs: found.errors, truncated_fields: truncated });
  });
  return app;
}

/**
 * JSON text with object keys sorted, for the truncation preview: PostgreSQL's jsonb
 * hands objects back with its own key order (shorter keys first) and SQLite with the original
 * one, and a preview must not depend on which database stored the row.
 */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

export function parseLogsQuery(params: URLSearchParams): LogsQuery | ProxyError {
  const limitRaw = params.get('limit');
  const limit = limitRaw === null ? 50 : Number(limitRaw);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    return errors.invalidParameter('limit', `'limit' must be an integer between 1 and ${MAX_LIMIT}`);
  }
  const q: LogsQuery = { limit, withTotal: params.get('total') === '1' || params.get('total') === 'true' };
  const model = params.get('model');
  if (model) q.model = model;
  const outcome = params.get('outcome');
  if (outcome) {
    if (!['success', 'error', 'cancelled'].includes(outcome)) {
      return errors.invalidParameter('outcome', "'outcome' must be one of success, error, cancelled");
    }
    q.outcome = outcome;
  }
  const status = params.get('status');
  if (status) {
    const n = Number(status);
    if (!Number.isInteger(n) || n < 0 || n > 999) return errors.invalidParameter('status', "'status' must be an HTTP status code");
    q.status = n;
  }
  for (const key of ['start', 'end'] as const) {
    const raw = params.get(key);
    if (!raw) continue;
    const d = parseInstant(raw);
    if (d === null) return errors.invalidParameter(key, `'${key}' must be an ISO-8601 timestamp`);
    q[key] = d;
  }
  const search = params.get('search') ?? params.get('q');
  if (search) q.search = search.slice(0, 200);
  const cursor = params.get('cursor');
  if (cursor) {
    try {
      const [time, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
      if (typeof time !== 'string' || typeof id !== 'string' || Number.isNaN(Date.parse(time))) throw new Error('bad');
      q.after = { time, id };
    } catch {
      return errors.invalidParameter('cursor', "'cursor' is not a cursor returned by this endpoint");
    }
  }
  return q;
}
