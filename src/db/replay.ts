/**
 * Replaying the spool into the database, and telling a bad row from a bad database: a failing
 * batch is first checked with a probe (database down → stop, keep the segment), then bisected down
 * to the single row the database refuses, which is set aside in `rejected/` so it cannot block the
 * spool forever.
 */
import type { RequestRecord } from '../logging/types.ts';
import type { Spool } from './spool.ts';

export interface ReplayDeps {
  readonly spool: Spool;
  readonly batchSize: number;
  /** Encodes and writes the records (spool lines, JSON text) in one transaction; resolves with how many rows were new. */
  insert(lines: readonly string[]): Promise<number>;
  /** Rejects when the database itself is unusable. */
  probe(): Promise<void>;
  /** Checked between batches: shutdown stops a replay at a batch boundary. */
  stopped(): boolean;
  onReplayed(inserted: number): void;
  /** A line that can never be written: keep it aside, count it, say so. */
  onRejected(line: string, reason: unknown): Promise<void>;
}

/** The line as a record, or why it is not one (checked before it goes to the database). */
function parse(line: string): RequestRecord | Error {
  try {
    const value = JSON.parse(line) as unknown;
    if (value && typeof value === 'object' && typeof (value as { id?: unknown }).id === 'string') {
      return value as RequestRecord;
    }
    return new Error('spool line is not a request record');
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

async function insertOrBisect(d: ReplayDeps, lines: readonly string[]): Promise<number> {
  if (lines.length === 0) return 0;
  try {
    return await d.insert(lines);
  } catch (err) {
    // Throws (and ends the replay) when the database is the problem, not the rows.
    await d.probe();
    if (lines.length === 1) {
      await d.onRejected(lines[0]!, err);
      return 0;
    }
    const mid = lines.length >>> 1;
    const left = await insertOrBisect(d, lines.slice(0, mid));
    return left + (await insertOrBisect(d, lines.slice(mid)));
  }
}

/**
 * Replays every closed segment, oldest first, deleting each once all its rows are committed.
 * Rejects when the database fails; the current segment stays and its committed rows are
 * skipped next time by ON CONFLICT DO NOTHING. Resolves false when stopped early.
 */
export async function replaySpool(d: ReplayDeps): Promise<boolean> {
  const segments = await d.spool.rotate();
  for (const segment of segments) {
    for await (const lines of d.spool.read(segment, d.batchSize)) {
      if (d.stopped()) return false;
      const kept: string[] = [];
      for (const line of lines) {
        const record = parse(line);
        if (record instanceof Error) await d.onRejected(line, record);
        else kept.push(line);
      }
      d.onReplayed(await insertOrBisect(d, kept));
    }
    await d.spool.remove(segment);
  }
  return true;
}
