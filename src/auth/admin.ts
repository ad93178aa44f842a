/**
 * Guard for everything that can change the config or read logged bodies (`/admin/*`,
 * `/api/logs*`). With a token: `Authorization: Bearer <token>` or `x-admin-token: <token>` from
 * anywhere. Without one: loopback clients only, so a fresh install is not open to its network.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { errorResponse, errors } from '../openai/errors.ts';
import { safeEqual } from './compare.ts';

export interface AdminGuardOptions {
  /** Read per request: `proxy_settings.auth.admin_token` may change on reload. */
  token: () => string | null;
}

export function adminGuard(opts: AdminGuardOptions): MiddlewareHandler {
  return async (c, next) => {
    const expected = opts.token();
    if (expected === null) {
      if (!isLoopbackClient(c)) return errorResponse(errors.adminLoopbackOnly());
      return next();
    }
    const presented = bearer(c.req.header('authorization')) ?? c.req.header('x-admin-token') ?? null;
    if (presented === null || !safeEqual(presented, expected)) return errorResponse(errors.adminUnauthorized());
    return next();
  };
}

function bearer(header: string | undefined): string | null {
  const match = header ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
  return match?.[1] ?? null;
}

/**
 * A request relayed by a local reverse proxy arrives from loopback too; its forwarding headers
 * give it away, and such a request is treated as remote.
 */
function isLoopbackClient(c: Context): boolean {
  if (c.req.header('x-forwarded-for') !== undefined || c.req.header('forwarded') !== undefined) return false;
  let address: string | undefined;
  try {
    address = getConnInfo(c).remote.address;
  } catch {
    // No Node socket (in-process `app.request()` without bindings): nothing proves it is local.
    return false;
  }
  return address !== undefined && isLoopbackAddress(address);
}

/** 127.0.0.0/8, ::1 and IPv4-mapped 127.x (`::ffff:127.0.0.1`). */
export function isLoopbackAddress(address: string): boolean {
  const v4 = address.toLowerCase().replace(/^::ffff:/, '');
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/** For the start-up warning: does binding `host` expose the server beyond this machine? */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || isLoopbackAddress(h);
}
