/**
 * A deliberately broken upstream for the fault suite, one behaviour per path prefix
 * (`${origin}/<kind>/v1/...`). Byte-exact control that the scripted fake upstream does not offer:
 * a TCP reset in the middle of a stream, binary garbage labelled as SSE, an SSE line that never
 * ends, a 50 MB JSON body written with back-pressure, headers and then silence.
 * Not a test file (no `.test.ts`).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Misbehaviour = 'rst' | 'garbage' | 'endless' | 'big' | 'silent';

export const FIRST_EVENT = 'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"first"}}]}\n\n';
export const GARBAGE_BYTES = 1024 * 1024;
/** How much of the never-ending line is written before the upstream just holds the connection. */
export const ENDLESS_BYTES = 8 * 1024 * 1024;
export const BIG_BYTES = 50 * 1024 * 1024;

export interface MisbehavingUpstream {
  origin: string;
  base(kind: Misbehaviour): string;
  /** Requests received per kind. */
  readonly hits: Record<Misbehaviour, number>;
  /** Bytes of the endless line actually written (the proxy's back-pressure limits it). */
  readonly endlessWritten: number[];
  close(): Promise<void>;
}

const SSE = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

/** Writes `total` bytes from `piece()` respecting back-pressure; stops when the socket goes. */
async function pump(res: ServerResponse, total: number, piece: (n: number) => Buffer | string): Promise<number> {
  let sent = 0;
  while (sent < total && !res.destroyed) {
    const chunk = piece(Math.min(64 * 1024, total - sent));
    sent += Buffer.byteLength(chunk);
    if (!res.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
  }
  return sent;
}

export async function startMisbehavingUpstream(): Promise<MisbehavingUpstream> {
  const hits: Record<Misbehaviour, number> = { rst: 0, garbage: 0, endless: 0, big: 0, silent: 0 };
  const endlessWritten: number[] = [];
  const sockets = new Set<Socket>();
  const bigHead = '{"id":"big","object":"chat.completion","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"';
  const bigTail = '"}}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}';

  const server = createServer({ requestTimeout: 0 }, (req, res) => {
    req.resume();
    req.on('end', () => {
      const kind = (req.url ?? '').split('/')[1] as Misbehaviour;
      hits[kind] = (hits[kind] ?? 0) + 1;
      switch (kind) {
        case 'rst':
          res.writeHead(200, SSE);
          res.write(FIRST_EVENT);
          setTimeout(() => res.socket?.resetAndDestroy(), 50);
          return;
        case 'garbage': {
          res.writeHead(200, SSE);
          // Random bytes, but never starting like SSE: one stream in ~100 began with ':' (a
          // comment line) or a line break, which the proxy rightly relays as a stream, and the
          // test that expects a 502 failed at random.
          let first = true;
          const piece = (n: number): Buffer => {
            const bytes = randomBytes(n);
            if (first) bytes[0] = 0;
            first = false;
            return bytes;
          };
          void pump(res, GARBAGE_BYTES, piece).then(() => res.end());
          return;
        }
        case 'endless': {
          res.writeHead(200, SSE);
          res.write(FIRST_EVENT);
          res.write('data: {"choices":[{"index":0,"delta":{"content":"');
          const slot = endlessWritten.push(0) - 1;
          const x = 'x'.repeat(64 * 1024);
          void pump(res, ENDLESS_BYTES, (n) => {
            endlessWritten[slot]! += n;
            return n === x.length ? x : x.slice(0, n);
          });
          // …and then never a newline, never an end: the connection stays open.
          return;
        }
        case 'big': {
          const body = BIG_BYTES - bigHead.length - bigTail.length;
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(BIG_BYTES) });
          res.write(bigHead);
          const a = 'a'.repeat(64 * 1024);
          void pump(res, body, (n) => (n === a.length ? a : a.slice(0, n))).then(() => res.end(bigTail));
          return;
        }
        case 'silent':
          res.writeHead(200, SSE);
          res.flushHeaders();
          return;
        default:
          res.writeHead(404).end();
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    base: (kind) => `${origin}/${kind}/v1`,
    hits,
    endlessWritten,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
