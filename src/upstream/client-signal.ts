import type { ServerResponse } from 'node:http';

/** The slice of AbortSignal the proxy and undici use; an AbortSignal satisfies it too. */
export interface ClientSignal {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/**
 * Fires when the client's connection closes before the response has been written. Reading
 * `Request.signal` makes @hono/node-server build an AbortController for every request; this
 * costs one 'close' listener instead.
 */
export class ResponseCloseSignal implements ClientSignal {
  aborted = false;
  reason: unknown = undefined;
  private listeners: Array<() => void> = [];

  constructor(outgoing: ServerResponse) {
    outgoing.once('close', () => {
      if (!outgoing.writableFinished) this.abort(new Error('client disconnected'));
    });
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    this.listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.listeners.indexOf(listener);
    if (i >= 0) this.listeners.splice(i, 1);
  }

  private abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = [];
    for (const l of listeners) l();
  }
}
