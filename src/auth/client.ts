/**
 * Client keys for `/v1/*`: `Authorization: Bearer <key>` or `x-api-key: <key>` (what Anthropic-
 * style clients send). Only the key's name travels further, into the request record.
 */
import { createHash } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { matchesHash } from './compare.ts';
import type { ClientKey } from './schema.ts';

export type ClientAuthVariables = {
  /** Name of the client key that authenticated the request; null when keys are not configured. */
  clientKey: string | null;
};

export interface ClientKeyGuardOptions {
  /** Read per request: keys change on reload. */
  keys: () => readonly ClientKey[];
  /** Answers (and records) a request without a valid key. */
  reject: (c: Context) => Response | Promise<Response>;
}

export function clientKeyGuard(opts: ClientKeyGuardOptions): MiddlewareHandler<{ Variables: ClientAuthVariables }> {
  return async (c, next) => {
    const keys = opts.keys();
    if (keys.length === 0) {
      c.set('clientKey', null);
      return next();
    }
    const name = identifyClient(c.req.raw.headers, keys);
    if (name === null) return opts.reject(c);
    c.set('clientKey', name);
    return next();
  };
}

/** The name of the configured key the request presents, or null. */
export function identifyClient(headers: Headers, keys: readonly ClientKey[]): string | null {
  const auth = /^Bearer\s+(.+)$/i.exec(headers.get('authorization')?.trim() ?? '');
  const presented = auth?.[1] ?? headers.get('x-api-key')?.trim();
  if (!presented) return null;
  const digest = createHash('sha256').update(presented, 'utf8').digest();
  let found: string | null = null;
  // Every key is compared, so the time taken does not tell which one (if any) matched.
  for (const key of keys) {
    if (matchesHash(digest, key.hash) && found === null) found = key.name;
  }
  return found;
}
