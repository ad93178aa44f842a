import { describe, expect, it } from 'vitest';
import { buildRoute, normalizeModelName } from '../src/routing/route.ts';
import { backoffDelay, classifyNetworkError, parseRetryAfter } from '../src/upstream/classify.ts';
import { upstreamTarget } from '../src/upstream/url.ts';
import { configFrom, model } from './helpers/proxy.ts';

describe('model names and routes', () => {
  it.each([
    ['OPENAI/gpt-4', 'gpt-4'],
    ['  gpt-4 ', 'gpt-4'],
    ['openai/', 'openai/'],
    ['z-ai/glm', 'z-ai/glm'],
    ['openai/z-ai/glm', 'z-ai/glm'],
  ])('normalises %j to %j', (raw, expected) => {
    expect(normalizeModelName(raw)).toBe(expected);
  });

  it('puts the model first, then its fallbacks; skips duplicates and unknown names; is not transitive', () => {
    const config = configFrom({
      model_list: ['a', 'b', 'c', 'd'].map((n) => model(n, 'http://127.0.0.1:1/v1')),
      router_settings: { fallbacks: [{ a: ['b', 'a', 'ghost', 'c', 'b'] }, { b: ['d'] }] },
    });
    expect(buildRoute(config, 'a').map((b) => b.name)).toEqual(['a', 'b', 'c']);
    expect(buildRoute(config, 'b').map((b) => b.name)).toEqual(['b', 'd']);
    expect(buildRoute(config, 'A')).toEqual([]);
  });
});

describe('upstream URL', () => {
  it.each([
    ['https://api.x.com/v1', '/v1/chat/completions', '', 'https://api.x.com/v1/chat/completions'],
    ['https://api.x.com/v1/', '/v1/chat/completions', 'a=1', 'https://api.x.com/v1/chat/completions?a=1'],
    ['https://openrouter.ai/api/v1', '/v1/embeddings', '', 'https://openrouter.ai/api/v1/embeddings'],
    ['http://h:8080/openai/deployments/x?api-version=2024', '/v1/chat/completions', 'b=2', 'http://h:8080/openai/deployments/x/chat/completions?api-version=2024&b=2'],
    ['http://h', '/v1', '', 'http://h/'],
  ])('%s + %s', (base, path, query, url) => {
    expect(upstreamTarget(base, path, query).url).toBe(url);
  });
});

describe('failure classification', () => {
  it('parses retry-after as seconds or an HTTP date', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter('0.5')).toBe(500);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter('soon')).toBeNull();
    expect(parseRetryAfter(undefined)).toBeNull();
  });

  it('backs off exponentially up to the cap, and clamps retry-after', () => {
    const opts = { baseDelayMs: 250, maxDelayMs: 2000, maxRetryAfterMs: 10_000 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, opts, null))).toEqual([250, 500, 1000, 2000, 2000]);
    expect(backoffDelay(1, opts, 60_000)).toBe(10_000);
    expect(backoffDelay(1, opts, 0)).toBe(0);
  });

  it('classifies undici errors once', () => {
    expect(classifyNetworkError(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' })).type).toBe('timeout');
    expect(classifyNetworkError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toEqual({
      type: 'connection_error',
      message: 'ECONNREFUSED: connect ECONNREFUSED',
    });
  });
});
