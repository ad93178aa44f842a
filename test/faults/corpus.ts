/**
 * A deterministic corpus of malformed client requests for the fault suite (seeded PRNG: the same
 * 10,000+ requests every run). Every one must be answered with a 4xx OpenAI error. Categories:
 * invalid JSON, wrong types, huge fields, invalid UTF-8, header abuse, unknown routes and methods.
 * `recorded` says whether the proxy must log it (a POST to a /v1 proxy endpoint); everything else
 * (unknown routes, disabled endpoints) gets its 404 without a row.
 * Not a test file (no `.test.ts`).
 */
import { prng } from '../../scripts/bench-usage/records.ts';

export interface BadRequest {
  readonly category: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer | null;
  /** The answer's status, when the category pins it. */
  readonly status?: number;
  readonly recorded: boolean;
}

const ENDPOINTS = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings'] as const;
export const MAX_REQUEST_BYTES = 256 * 1024;

export function buildCorpus(size: number, seed = 6): BadRequest[] {
  const rnd = prng(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
  const endpoint = (): string => pick(ENDPOINTS);
  const post = (category: string, body: Buffer | null, extra: Partial<BadRequest> = {}): BadRequest => ({
    category,
    method: 'POST',
    path: endpoint(),
    headers: { 'content-type': 'application/json' },
    body,
    recorded: true,
    ...extra,
  });
  const msgs = [{ role: 'user', content: 'hi' }];
  const unknownModel = (): string => `no-such-model-${int(1e6)}`;

  const makers: Array<() => BadRequest> = [
    // --- invalid JSON
    () => ({ ...post('invalid-json', Buffer.from('{"model":')), status: 400 }),
    () => post('invalid-json', Buffer.from(pick(['{', '{"model":', '{"model":"m",}', "{'model':'m'}", 'nul', '[1,2', '{"a":1}}', '{"model":"m" "x":1}', '\u0000\u0001', '{"model":NaN}'])), { status: 400 }),
    () => post('invalid-json', Buffer.from(JSON.stringify({ model: 'm', messages: msgs }).slice(0, 1 + int(30))), { status: 400 }),
    () => {
      const bytes = Buffer.alloc(1 + int(2048));
      for (let i = 0; i < bytes.length; i++) bytes[i] = int(256);
      bytes[0] = 0x7b; // '{' then noise
      return post('invalid-json', bytes, { status: 400 });
    },
    () => post('invalid-json', Buffer.from('{"model":"m","messages":[' + '['.repeat(int(5000) + 1000)), { status: 400 }),
    // --- wrong types
    () => post('wrong-type', json(pick([[], [1, 2], 42, 'text', null, true])), { status: 400 }),
    () => post('wrong-type', json({ model: pick([42, null, true, [], {}, '', '   ']), messages: msgs, prompt: 'p', input: 'i' }), { status: 400 }),
    () => ({ ...post('wrong-type', json({ model: unknownModel(), messages: pick([null, 'hi', 42, {}, []]) })), path: '/v1/chat/completions', status: 400 }),
    () => ({ ...post('wrong-type', json({ model: unknownModel(), prompt: null })), path: '/v1/completions', status: 400 }),
    () => ({ ...post('wrong-type', json({ model: unknownModel() })), path: '/v1/embeddings', status: 400 }),
    () => post('wrong-type', json({ model: unknownModel(), messages: msgs, prompt: 'p', input: 'i', stream: pick(['yes', 1, 0, {}, []]) }), { status: 400 }),
    () => post('wrong-type', Buffer.alloc(0), { status: 400 }),
    // --- valid shape, model that does not exist (the proxy must not forward it anywhere)
    () => post('unknown-model', json({ model: unknownModel(), messages: msgs, prompt: 'p', input: 'i', stream: rnd() < 0.5 }), { status: 404 }),
    // --- invalid UTF-8 (and escaped lone surrogates, which PostgreSQL would refuse in jsonb)
    () => {
      const b = Buffer.from(JSON.stringify({ model: 'MODEL', messages: [{ role: 'user', content: 'CONTENT' }], prompt: 'p', input: 'i' }));
      const bad = Buffer.from([pick([0xff, 0xfe, 0xc0, 0xed, 0xf8]), pick([0x80, 0xa0, 0xbf, 0x41]), 0xe2, 0x28, 0xa1]);
      const s = b.toString('latin1');
      const i = s.indexOf(pick(['MODEL', 'CONTENT']));
      return post('invalid-utf8', Buffer.concat([b.subarray(0, i), bad, b.subarray(i)]), { status: 404 });
    },
    () => post('invalid-utf8', Buffer.from(`{"model":"\\ud800${int(1e6)}","messages":[{"role":"user","content":"\\udfff\\u0000"}],"prompt":"p","input":"i"}`), { status: 404 }),
    () => post('invalid-utf8', Buffer.concat([Buffer.from('{"model":"'), Buffer.from([0xff, 0xff, 0xff]), Buffer.from('",')]), { status: 400 }),
    // --- header abuse
    () => ({ ...post('headers', json({ model: unknownModel(), messages: msgs, prompt: 'p', input: 'i' })), headers: { 'content-type': pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '*/*', 'application/json; charset=latin1']) }, status: 404 }),
    () => ({ ...post('headers', json({ model: unknownModel(), messages: msgs, prompt: 'p', input: 'i' })), headers: { 'content-type': 'application/json', authorization: `Bearer ${'k'.repeat(4000 + int(8000))}`, 'x-api-key': 'q'.repeat(int(2000)) }, status: 404 }),
    () => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      for (let i = 0; i < 50 + int(100); i++) headers[`x-junk-${i}`] = 'v'.repeat(int(60));
      return { ...post('headers', json({ model: unknownModel(), messages: msgs, prompt: 'p', input: 'i' })), headers, status: 404 };
    },
    () => ({ ...post('headers', json({ model: unknownModel(), messages: msgs, prompt: 'p', input: 'i' })), headers: { 'content-type': 'application/json', 'content-encoding': pick(['gzip', 'br', 'deflate', 'bogus']) } }),
    () => ({ ...post('headers', json({ model: unknownModel(), messages: msgs, prompt: 'p', input: 'i' })), headers: { 'content-type': 'application/json', 'x-request-id': `"><script>${int(1e6)}`, 'x-forwarded-for': '1.2.3.4, ' + '5.6.7.8, '.repeat(200), cookie: 'a=b; '.repeat(500) }, status: 404 }),
    // --- unknown routes, wrong methods, disabled endpoints
    () => ({ category: 'route', method: 'POST', path: pick(['/v1/chat/completion', '/v1/chat', '/v2/chat/completions', '/v1/engines/x/completions', '/v1/images/generations', '/v1/audio/speech', '/v1/responses', '/v1/chat/completions/extra', '/api/v1/chat/completions']), headers: { 'content-type': 'application/json' }, body: json({ model: 'm', messages: msgs }), status: 404, recorded: false }),
    () => ({ category: 'route', method: pick(['GET', 'PUT', 'DELETE', 'PATCH']), path: endpoint(), headers: {}, body: null, status: 404, recorded: false }),
    () => ({ category: 'route', method: 'GET', path: pick(['/v1/%ZZ', '/%00', '/v1/models/%E0%A4%A', '/..%2f..%2fetc/passwd', `/v1/${'a'.repeat(4000 + int(4000))}`, '/v1/chat/completions?x=%ZZ&&&=']), headers: {}, body: null, status: 404, recorded: false }),
  ];
  // Expensive ones (hundreds of KB each): every round, otherwise rarely.
  const heavy: Array<() => BadRequest> = [
    // --- huge fields (within max_request_body_bytes), and one beyond it
    () => post('huge-field', json({ model: 'x'.repeat(10_000 + int(100_000)), messages: msgs, prompt: 'p', input: 'i' }), { status: 404 }),
    () => post('huge-field', json({ model: unknownModel(), messages: [{ role: 'user', content: 'y'.repeat(50_000 + int(150_000)) }], prompt: 'p', input: 'i' }), { status: 404 }),
    () => post('huge-field', json({ model: unknownModel(), messages: Array.from({ length: 2000 + int(3000) }, () => ({ role: 'user', content: 'z' })), prompt: 'p', input: 'i' }), { status: 404 }),
    () => post('too-large', json({ model: unknownModel(), messages: [{ role: 'user', content: 'w'.repeat(MAX_REQUEST_BYTES + int(64 * 1024)) }] }), { status: 413 }),
    // Beyond node's 16 KiB header limit: refused by the HTTP parser, before any route.
    () => ({ ...post('header-overflow', json({ model: unknownModel(), messages: msgs })), headers: { 'content-type': 'application/json', 'x-big': 'h'.repeat(17_000 + int(10_000)) }, status: 431, recorded: false }),
  ];

  const out: BadRequest[] = [];
  // Every maker at least a few times, then at random.
  for (let round = 0; round < 5; round++) for (const make of [...makers, ...heavy]) out.push(make());
  while (out.length < size) out.push(rnd() < 0.03 ? pick(heavy)() : pick(makers)());
  return out;
}
