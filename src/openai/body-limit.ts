import { errors } from './errors.ts';

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
