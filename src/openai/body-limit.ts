import type { IncomingMessage } from 'node:http';
import { errors } from './errors.ts';

/** The client closed the connection before its request body was complete. */
export class BodyAborted extends Error {
  constructor() {
    super('client disconnected while sending the body');
  }
}

/**
 * The same bound, reading node's IncomingMessage directly: no web-stream conversion and no
 * Buffer → ArrayBuffer copy, which is measurable at thousands of requests per second.
 */
export function readIncomingLimited(incoming: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = Number(incoming.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(errors.requestTooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const done = (): void => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limit) {
        done();
        reject(errors.requestTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    };
    const onError = (err: Error): void => {
      done();
      reject(err);
    };
    const onClose = (): void => {
      if (incoming.readableEnded) return onEnd();
      done();
      reject(new BodyAborted());
    };
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    incoming.on('close', onClose);
  });
}

/**
 * Reads the request body, refusing more than `limit` bytes: by content-length up front, and by
 * counting for chunked bodies, so an oversized upload is never held in memory.
 */
export async function readBodyLimited(req: Request, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw errors.requestTooLarge(limit);
  // With a declared length the HTTP parser enforces it, so the buffered fast path of
  // @hono/node-server (no web-stream conversion) is safe; chunked bodies are counted below.
  if (Number.isFinite(declared)) return new Uint8Array(await req.arrayBuffer());
  if (!req.body) return new Uint8Array();
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw errors.requestTooLarge(limit);
    }
    chunks.push(value);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}
