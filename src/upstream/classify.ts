import type { ErrorType } from '../logging/types.ts';

/** Statuses worth another attempt or the next backend (as the original: 408 409 429 5xx-gateway). */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 409, 429, 500, 502, 503, 504]);

export interface NetworkFailure {
  type: Extract<ErrorType, 'timeout' | 'connection_error'>;
  message: string;
}

/** Our own code for a non-stream body that did not finish within `timeouts.body_ms`. */
export const BODY_DEADLINE_CODE = 'YALLMP_BODY_DEADLINE';

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT', BODY_DEADLINE_CODE]);

/** undici and socket errors are classified once, here. */
export function classifyNetworkError(err: unknown): NetworkFailure {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e?.code ?? e?.cause?.code ?? e?.name ?? 'Error';
  const detail = e?.cause?.message ?? e?.message ?? String(err);
  if (TIMEOUT_CODES.has(code) || e?.name === 'TimeoutError') {
    return { type: 'timeout', message: `${describeTimeout(code)} (${code})` };
  }
  return { type: 'connection_error', message: `${code}: ${detail}` };
}

function describeTimeout(code: string): string {
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connect timeout';
    case 'UND_ERR_HEADERS_TIMEOUT':
      return 'no response headers within request_timeout';
    case 'UND_ERR_BODY_TIMEOUT':
      return 'upstream body stalled beyond the idle timeout';
    case BODY_DEADLINE_CODE:
      return 'response body not complete within timeouts.body_ms';
    default:
      return 'timeout';
  }
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date. Returns ms, or null when absent/invalid. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return null;
  const trimmed = v.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - now);
}

export function backoffDelay(attempt: number, opts: { baseDelayMs: number; maxDelayMs: number; maxRetryAfterMs: number }, retryAfterMs: number | null): number {
  if (retryAfterMs !== null) return Math.min(retryAfterMs, opts.maxRetryAfterMs);
  return Math.min(opts.baseDelayMs * 2 ** (attempt - 1), opts.maxDelayMs);
}
