import type { Readable } from 'node:stream';
import type { Usage } from '../logging/types.ts';

export interface ChunkSource {
  next(): Promise<IteratorResult<Uint8Array>>;
  /** Stops the upstream body (frees the socket); safe to call twice. A pending `next` rejects with `err`. */
  destroy(err?: Error): void;
}

/**
 * The iterator is created on the first `next`, so a caller may still read the body whole instead.
 * A class, not an object of closures: one per request, and each closure costs a `__name` call
 * under tsx.
 */
class BodySource implements ChunkSource {
  private it: AsyncIterator<Uint8Array> | null = null;

  constructor(private readonly body: Readable) {}

  next(): Promise<IteratorResult<Uint8Array>> {
    return (this.it ??= this.body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>).next();
  }

  destroy(err?: Error): void {
    if (!this.body.destroyed) this.body.destroy(err);
  }
}

export function chunkSource(body: Readable): ChunkSource {
  return new BodySource(body);
}

export interface CappedRead {
  chunks: Uint8Array[];
  bytes: number;
  /** true when the body ended within the cap; false means more is left in the source. */
  complete: boolean;
}

/** Reads until the end or until more than `maxBytes` have arrived, whichever comes first. */
export async function readCapped(source: ChunkSource, maxBytes: number): Promise<CappedRead> {
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { value, done } = await source.next();
    if (done) return { chunks, bytes, complete: true };
    chunks.push(value);
    bytes += value.byteLength;
    if (bytes > maxBytes) return { chunks, bytes, complete: false };
  }
}

const decoder = new TextDecoder();

export function concat(chunks: readonly Uint8Array[], bytes?: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  return Buffer.concat(chunks, bytes);
}

export function decodeCapped(chunks: readonly Uint8Array[], maxBytes: number): string {
  const all = concat(chunks);
  return all.byteLength <= maxBytes
    ? decoder.decode(all)
    : `${decoder.decode(all.subarray(0, maxBytes))}…[truncated ${all.byteLength - maxBytes} bytes]`;
}

/** Reads an error body for logging/relay, bounded; the rest is discarded. */
export async function readErrorBody(source: ChunkSource, maxBytes: number): Promise<Uint8Array> {
  try {
    const read = await readCapped(source, maxBytes);
    if (!read.complete) source.destroy();
    const all = concat(read.chunks, read.bytes);
    return all.byteLength > maxBytes ? all.subarray(0, maxBytes) : all;
  } catch {
    source.destroy();
    return new Uint8Array();
  }
}

/** TypeScript's DOM lib only accepts ArrayBuffer-backed views; node Buffers are, at runtime. */
export function asBodyInit(bytes: Uint8Array): BodyInit {
  return bytes as Uint8Array<ArrayBuffer>;
}

/** usage + finish_reason of a non-stream JSON body; parsing trouble is never an error here. */
export function extractJsonUsage(body: Uint8Array): { usage: Usage | null; finishReason: string | null } {
  try {
    const json = JSON.parse(decoder.decode(body)) as { usage?: unknown; choices?: Array<{ finish_reason?: unknown }> };
    const usage = json.usage && typeof json.usage === 'object' ? (json.usage as Usage) : null;
    const fr = Array.isArray(json.choices) ? json.choices.find((c) => typeof c?.finish_reason === 'string')?.finish_reason : null;
    return { usage, finishReason: typeof fr === 'string' ? fr : null };
  } catch {
    return { usage: null, finishReason: null };
  }
}
