/**
 * Main-thread CPU work of the writer, cut into slices: a 500-row batch takes several
 * milliseconds to encode or serialise, which would show up as event-loop delay for every request
 * in flight. Between slices the loop gets a turn (setImmediate, after pending I/O).
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { HeaderSanitizer } from '../logging/sanitize.ts';
import type { RequestRecord } from '../logging/types.ts';
import type { Dialect } from './dialect.ts';
import { encodeRecordRows, recordToRows } from './rows.ts';
import type { EncodedRows } from './rows.ts';

/** Work done between two yields to the event loop. */
const SLICE_MS = 2;


export async function mapSliced<T, R>(items: readonly T[], fn: (item: T) => R): Promise<R[]> {
  const out: R[] = [];
  let start = performance.now();
  for (let i = 0; i < items.length; i++) {
    out.push(fn(items[i]!));
    if ((i & 7) === 7 && performance.now() - start >= SLICE_MS) {
      await yieldToLoop();
      start = performance.now();
    }
  }
  return out;
}

export interface EncodedBatch {
  readonly rows: EncodedRows;
  /** The records (JSON text) behind `rows`, in order. */
  readonly good: string[];
  /** Records that cannot be encoded at all (e.g. an unparseable timestamp). */
  readonly bad: { readonly text: string; readonly error: unknown }[];
}

/**
 * Every record of `texts`, one per element: each text is a JSON-lines chunk of one or more
 * records (wire.ts texts joined by `\n`; JSON.stringify never emits a raw newline).
 */
export function jsonLines(texts: readonly string[]): string[] {
  const lines: string[] = [];
  for (const t of texts) for (const line of t.split('\n')) lines.push(line);
  return lines;
}

/** JSON-lines chunks (see jsonLines) → rows, on this thread: the in-process stores (tests, `:memory:`). */
export function createRecordEncoder(
  dialect: Dialect,
  sanitize: HeaderSanitizer,
): (texts: readonly string[]) => Promise<EncodedBatch> {
  return async (texts) => {
    const requests: Record<string, unknown>[] = [];
    const errors: Record<string, unknown>[] = [];
    const good: string[] = [];
    const bad: { text: string; error: unknown }[] = [];
    await mapSliced(jsonLines(texts), (text) => {
      try {
        const rows = encodeRecordRows(dialect, recordToRows(JSON.parse(text) as RequestRecord, sanitize));
        requests.push(...rows.requests);
        errors.push(...rows.errors);
        good.push(text);
      } catch (error) {
        // One bad record must not fail the 499 others in its batch.
        bad.push({ text, error });
      }
    });
    return { rows: { requests, errors }, good, bad };
  };
}
