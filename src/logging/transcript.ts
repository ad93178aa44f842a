import type { BackendAttempt, ParsedResponse, RecordedError, RequestRecord, Usage } from './types.ts';

/*
 * The two renderings of a finished record that the file sink writes: the `.json` snapshot (machine-
 * readable, snake_case like the database columns) and the `.log` transcript (for people).
 */

/**
 * The human-readable `.log` transcript of one request: what a person debugging a failed call wants to
 * read top to bottom (request, every upstream attempt, the stream, the errors, the verdict).
 * Pure function of an already-scrubbed record; the file sink does the redaction before calling it.
 */
export function renderTranscript(record: RequestRecord): string {
  const lines: string[] = [];
  const query = record.query ? `?${record.query}` : '';
  lines.push(`=== yaLLMproxy request ${record.id}  ${record.requestTime}`);
  lines.push(`${record.method} ${record.path}${query}   model=${record.model}   stream=${record.isStream}`);
  lines.push(`route: ${record.route.length ? record.route.join(' -> ') : '(none)'}`);

  lines.push('--- request headers');
  pushHeaders(lines, record.headers);
  lines.push(record.bodyTruncated ? '--- request body (truncated)' : '--- request body');
  lines.push(record.body === null || record.body === undefined ? '(empty)' : formatValue(record.body));

  const streamed = record.streamChunks.length > 0 || record.streamChunksDropped > 0;
  // With a parsed response the upstream body is not what the client got: it stays with its attempt.
  const finalBody = streamed || record.parsed ? null : record.responseBody;
  for (const attempt of record.attempts) pushAttempt(lines, record.method, attempt, finalBody);

  if (streamed) {
    lines.push(`--- stream chunks (${record.streamChunks.length} captured, ${record.streamChunksDropped} dropped)`);
    // Chunks are raw byte slices of the SSE stream; joined they are the stream text as the client got it,
    // which reads better than arbitrary TCP-sized pieces.
    const text = record.streamChunks.join('');
    if (text) lines.push(text.endsWith('\n') ? text.slice(0, -1) : text);
  } else if (finalBody !== null) {
    // For a stream that produced chunks the response body is only their first event again; skip it then.
    lines.push(record.isStream ? '--- response body' : '--- response body (non-stream)');
    lines.push(formatText(finalBody));
  }

  if (record.parsed) pushParsed(lines, record.parsed);

  if (record.errors.length) {
    lines.push('--- errors');
    for (const error of record.errors) lines.push(formatError(error));
  }

  lines.push(finalLine(record));
  return `${lines.join('\n')}\n`;
}

/** The pretty-printed `.json` snapshot: the record's fields under snake_case names. */
export function toSnapshot(r: RequestRecord): Record<string, unknown> {
  return {
    id: r.id,
    time: r.requestTime,
    model: r.model,
    stream: r.isStream,
    path: r.path,
    method: r.method,
    query: r.query,
    headers: r.headers,
    body: r.body,
    route: r.route,
    outcome: r.outcome,
    status_code: r.statusCode,
    backend: r.backendName,
    usage: r.usage,
    finish_reason: r.finishReason,
    duration_ms: r.durationMs,
    ttfb_ms: r.ttfbMs,
    ...(r.parsed ? { parsed_response: { body: r.parsed.body, stream_chunks: r.parsed.chunks, stream_chunks_dropped: r.parsed.chunksDropped } } : {}),
    attempts: r.attempts.map((a) => ({
      backend: a.backend,
      attempt: a.attempt,
      url: a.url,
      status: a.status,
      duration_ms: a.durationMs,
      ttfb_ms: a.ttfbMs,
      error: a.error,
      error_type: a.errorType,
      response_headers: a.responseHeaders,
      response_body: a.responseBody,
    })),
    errors: r.errors.map((e) => ({
      time: e.time,
      type: e.type,
      message: e.message,
      backend: e.backend,
      http_status: e.httpStatus,
      context: e.context,
    })),
  };
}

function pushAttempt(lines: string[], method: string, a: BackendAttempt, finalBody: string | null): void {
  lines.push(`--- attempt ${a.attempt} · ${a.backend} · ${method} ${a.url}`);
  const timing = a.ttfbMs === null ? `${a.durationMs} ms` : `${a.durationMs} ms, ttfb ${a.ttfbMs} ms`;
  lines.push(`status: ${a.status ?? 'no response'}  (${timing})`);
  if (a.error !== null) lines.push(`error [${a.errorType ?? 'unknown'}]: ${a.error}`);
  if (a.responseHeaders) {
    lines.push('response headers:');
    pushHeaders(lines, a.responseHeaders, '  ');
  }
  // The winning attempt's body is what the client got, printed once at the end rather than twice.
  if (a.responseBody !== null && a.responseBody === finalBody) lines.push('response body: (sent to the client, below)');
  else if (a.responseBody !== null) {
    lines.push('response body:');
    lines.push(formatText(a.responseBody));
  }
}

function pushParsed(lines: string[], p: ParsedResponse): void {
  if (p.body !== null) {
    lines.push('--- parsed response (sent to the client)');
    lines.push(formatText(p.body));
    return;
  }
  lines.push(`--- parsed stream (sent to the client; ${p.chunks.length} captured, ${p.chunksDropped} dropped)`);
  const text = p.chunks.join('');
  if (text) lines.push(text.endsWith('\n') ? text.slice(0, -1) : text);
}

function pushHeaders(lines: string[], headers: Readonly<Record<string, string>>, indent = ''): void {
  const entries = Object.entries(headers);
  if (!entries.length) lines.push(`${indent}(none)`);
  for (const [name, value] of entries) lines.push(`${indent}${name}: ${value}`);
}

function formatError(e: RecordedError): string {
  const status = e.httpStatus === null ? '-' : String(e.httpStatus);
  return `${e.time}  ${e.type}  ${e.backend ?? '-'}  ${status}  ${e.message}`;
}

function finalLine(r: RequestRecord): string {
  const parts = [`=== outcome: ${r.outcome}`, `status: ${r.statusCode}`];
  if (r.backendName !== null) parts.push(`backend: ${r.backendName}`);
  parts.push(`duration: ${r.durationMs} ms`);
  if (r.ttfbMs !== null) parts.push(`ttfb: ${r.ttfbMs} ms`);
  if (r.finishReason !== null) parts.push(`finish: ${r.finishReason}`);
  if (r.usage) parts.push(`usage: ${formatUsage(r.usage)}`);
  return parts.join('   ');
}

function formatUsage(u: Usage): string {
  const n = (v: number | undefined): string => (typeof v === 'number' ? String(v) : '?');
  return `prompt ${n(u.prompt_tokens)} / completion ${n(u.completion_tokens)} / total ${n(u.total_tokens)}`;
}

/** Parsed values are pretty-printed; strings are shown as text (pretty JSON when they hold JSON). */
function formatValue(value: unknown): string {
  if (typeof value === 'string') return formatText(value);
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Bodies here are already capped by the recorder, so a JSON.parse attempt is bounded work. */
function formatText(text: string): string {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // Not JSON after all (or cut off by the cap): show it as it came.
    }
  }
  return text === '' ? '(empty)' : text;
}
