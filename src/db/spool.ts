/**
 * The spool: where log rows wait while the database cannot take them. Records are appended as
 * JSON lines to segment files `<ms>-<pid>-<seq>.jsonl`; `rotate()` closes the current segment so
 * replay only ever reads closed segments and appends never touch a file being replayed. A segment
 * is deleted only after every row in it is committed. One spool directory per process: replay
 * takes every closed segment it finds, including those a crashed earlier run left behind.
 */
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, open, readdir, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';

export interface SpoolOptions {
  readonly dir: string;
  /** Bytes accepted but not yet written; appends beyond it are refused (the caller counts them). */
  readonly maxPendingBytes?: number;
}

export interface Spool {
  readonly dir: string;
  /** Appends one line per record; resolves false (never rejects) when the lines could not be kept. */
  append(lines: readonly string[]): Promise<boolean>;
  /** Closes the current segment; returns every closed segment, oldest first. */
  rotate(): Promise<string[]>;
  /** Whether anything may be waiting: a non-empty current segment or closed segments. */
  hasData(): boolean;
  /** The lines of a closed segment, `size` at a time (blank lines skipped). */
  read(segment: string, size: number): AsyncGenerator<string[]>;
  /** Deletes a fully committed segment. */
  remove(segment: string): Promise<void>;
  /** Keeps a line the database refuses even on its own in `rejected/`, for a person to look at. */
  reject(line: string): Promise<boolean>;
  /** Waits for pending appends and closes the current segment. */
  close(): Promise<void>;
  /** The last append error, if the most recent append failed. */
  readonly lastError: unknown;
}

const SEGMENT = /^\d+-\d+-\d+\.jsonl$/;
const SEGMENT_MAX_BYTES = 64 * 1024 * 1024;

export function createSpool(opts: SpoolOptions): Spool {
  const maxPending = opts.maxPendingBytes ?? 64 * 1024 * 1024;
  const dir = opts.dir;
  let seq = 0;
  let current: { file: string; handle: Promise<FileHandle>; bytes: number } | null = null;
  // Appends are chained so lines of two batches never interleave and rotate sees a quiet file.
  let chain: Promise<unknown> = Promise.resolve();
  let pending = 0;
  let closed = 0;
  let lastError: unknown = null;
  let dirReady: Promise<unknown> | null = null;

  const ensureDir = (): Promise<unknown> =>
    (dirReady ??= mkdir(dir, { recursive: true }).catch((err: unknown) => {
      dirReady = null;
      throw err;
    }));

  const segmentName = (): string =>
    `${String(Date.now()).padStart(13, '0')}-${process.pid}-${String(seq++).padStart(6, '0')}.jsonl`;

  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn);
    chain = run.catch(() => undefined);
    return run;
  };

  const closeCurrent = async (): Promise<void> => {
    const seg = current;
    current = null;
    if (!seg) return;
    await (await seg.handle).close();
    if (seg.bytes > 0) closed++;
    else await rm(seg.file, { force: true });
  };

  return {
    dir,
    get lastError() {
      return lastError;
    },
    append(lines) {
      if (lines.length === 0) return Promise.resolve(true);
      const data = `${lines.join('\n')}\n`;
      const size = Buffer.byteLength(data);
      if (pending + size > maxPending) {
        lastError = new Error(`spool write backlog over ${maxPending} bytes`);
        return Promise.resolve(false);
      }
      pending += size;
      return serial(async () => {
        try {
          await ensureDir();
          // Bounded segments: a long outage's replay can delete its progress piece by piece.
          if (current && current.bytes >= SEGMENT_MAX_BYTES) await closeCurrent();
          if (!current) {
            const file = path.join(dir, segmentName());
            current = { file, handle: open(file, 'a'), bytes: 0 };
          }
          const seg = current;
          await (await seg.handle).appendFile(data);
          seg.bytes += size;
          lastError = null;
          return true;
        } catch (err) {
          lastError = err;
          // A handle that failed to open must not be reused by the next append.
          if (current) await closeCurrent().catch(() => (current = null));
          return false;
        } finally {
          pending -= size;
        }
      });
    },
    rotate() {
      return serial(async () => {
        await closeCurrent();
        let names: string[];
        try {
          names = await readdir(dir);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') names = [];
          else throw err;
        }
        const segments = names.filter((n) => SEGMENT.test(n)).sort();
        closed = segments.length;
        return segments.map((n) => path.join(dir, n));
      });
    },
    hasData: () => closed > 0 || (current !== null && current.bytes > 0) || pending > 0,
    async *read(segment, size) {
      const input = createReadStream(segment, 'utf8');
      const lines = createInterface({ input, crlfDelay: Infinity });
      try {
        let batch: string[] = [];
        for await (const line of lines) {
          if (line.trim() === '') continue;
          batch.push(line);
          if (batch.length >= size) {
            yield batch;
            batch = [];
          }
        }
        if (batch.length) yield batch;
      } finally {
        // A replay stopped mid-segment must not leave the file descriptor open.
        lines.close();
        input.destroy();
      }
    },
    async remove(segment) {
      await rm(segment, { force: true });
      closed = Math.max(0, closed - 1);
    },
    async reject(line) {
      try {
        await mkdir(path.join(dir, 'rejected'), { recursive: true });
        await appendFile(path.join(dir, 'rejected', `${process.pid}.jsonl`), `${line}\n`);
        return true;
      } catch (err) {
        lastError = err;
        return false;
      }
    },
    close() {
      return serial(closeCurrent);
    },
  };
}
