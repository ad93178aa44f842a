import type { RequestRecord } from '../../src/logging/types.ts';

/**
 * The n-th plain successful non-stream chat completion: a unique id (`family` keeps suites apart),
 * a time n ms after 2026-01-07T12:00Z, a body that names n. `over` replaces any field.
 */
export function chatRecord(n: number, over: Partial<RequestRecord> = {}, family = '8000'): RequestRecord {
  return {
    id: `00000000-0000-4000-${family}-${String(n).padStart(12, '0')}`,
    requestTime: new Date(Date.UTC(2026, 0, 7, 12, 0, 0, n)).toISOString(),
    model: 'gpt-4o-mini',
    isStream: false,
    path: '/v1/chat/completions',
    method: 'POST',
    query: '',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-secret-value-123' },
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `hi ${n}` }] },
    bodyTruncated: false,
    route: ['gpt-4o-mini'],
    attempts: [],
    streamChunks: [],
    streamChunksDropped: 0,
    errors: [],
    usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 },
    finishReason: 'stop',
    outcome: 'success',
    statusCode: 200,
    backendName: 'gpt-4o-mini',
    durationMs: 870,
    ttfbMs: 120,
    responseBody: null,
    ...over,
  };
}
