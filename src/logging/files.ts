import type { Worker } from 'node:worker_threads';
import { spawnTsWorker } from '../ts-worker.ts';
import type { FileWorkerData, FileWorkerReply, FileWorkerRequest } from './files-worker.ts';
import type { RequestRecord, RequestSink } from './types.ts';
import { recordJson } from './wire.ts';

export interface FileSinkOptions {
  /** Directory the `.json`/`.log` pairs go to (created on first write). */
  readonly dir: string;
  /** Records accepted but not yet on disk (waiting + being written); beyond it records are dropped. */
  readonly maxQueue?: number;
  /**
   * Bytes of records (as JSON) handed to the writer thread and not yet written; beyond it records
   * are dropped and counted like a full queue (default 64 MiB). Large prompts make a record-count
   * bound alone meaningless: 10,000 records of 200 KB are 2 GB.
   */
  readonly maxQueueBytes?: number;
  /**
   * Called once per burst of drops, and for write failures at most once per `errorIntervalMs`
   * (with the count since the last report); never per record.
   */
  readonly onError?: (err: unknown) => void;
  /** Minimum time between two reports of the same run of write failures (default 60 s). */
  readonly errorIntervalMs?: number;
  /** Extra header names to mask, on top of the built-in list. */
  readonly redactHeaders?: readonly string[];
}

export interface FileSinkStats {
  /** Records whose `.json` and `.log` were both written. */
  readonly written: number;
  /** Records refused because the queue was full. */
  readonly dropped: number;
  /** Records that could not be serialised or written. */
  readonly failed: number;
  /** Records accepted and not yet finished (waiting or being written). */
  readonly queued: number;
}

export interface FileSink extends RequestSink {
  publish(record: RequestRecord): void;
  /** Resolves once every accepted record is written (or failed). The sink stays usable afterwards. */
  close(): Promise<void>;
  /** Live counters (the same object is updated in place). */
  readonly stats: FileSinkStats;
}

const UNSAFE = /[^A-Za-z0-9._-]/g;

/** `<YYYYMMDDTHHMMSS.mmmZ>-<id[:8]>_<model>`: sortable by time, safe on every filesystem. */
export function fileBaseName(r: RequestRecord): string {
  const parsed = new Date(r.requestTime);
  // A malformed time must not lose the record; the write time is the next best stamp.
  const time = Number.isNaN(parsed.getTime()) ? new Date() : parsed;
  const stamp = time.toISOString().replace(/[-:]/g, '');
  // The id is ours (a UUID), but it ends up in a path, so it gets the same treatment as the model.
  const id = r.id.slice(0, 8).replace(UNSAFE, '_') || 'noid';
  const model = r.model.replace(UNSAFE, '_').slice(0, 64) || 'unknown';
  return `${stamp}-${id}_${model}`;
}

/** A NaN or zero bound would silently mean "unbounded" or "never write"; fall back to the default. */
function positiveInt(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 1 ? Math.floor(value) : fallback;
}

const WORKER_URL = new URL('./files-worker.ts', import.meta.url);
/** Records per message to the writer thread: one message per event-loop turn, not one per record. */
const RECORDS_PER_MESSAGE = 256;

/**
 * Writes one `.json` + `.log` pair per record, off the request path and off the event loop:
 * `publish` only enqueues; once per loop turn the queued records go, as JSON text (wire.ts), to
 * a writer thread (files-worker.ts), which renders and writes them. The queue (waiting + in the
 * thread) is bounded by `maxQueue` records and `maxQueueBytes` of JSON; what does not fit is
 * counted as dropped, and every record the thread fails to write as failed.
 */
export function createFileSink(opts: FileSinkOptions): FileSink {
  const maxQueue = positiveInt(opts.maxQueue, 10_000);
  const maxQueueBytes = positiveInt(opts.maxQueueBytes, 64 * 1024 * 1024);
  let queuedBytes = 0;
  const errorIntervalMs = opts.errorIntervalMs ?? 60_000;
  const workerData: FileWorkerData = { dir: opts.dir, redactHeaders: opts.redactHeaders ?? [] };
  const stats = { written: 0, dropped: 0, failed: 0, queued: 0 };
  let outbox: RequestRecord[] = [];
  let scheduled = false;
  let overflowing = false;
  // Failures: when they were last reported and how many failed since.
  let lastReport = Number.NEGATIVE_INFINITY;
  let failedSinceReport = 0;
  let worker: Worker | null = null;
  let seq = 0;
  /** Records and bytes per message to the thread, until its reply. */
  const inFlight = new Map<number, { count: number; bytes: number }>();
  const idle: Array<() => void> = [];

  const report = (err: unknown): void => {
    try {
      opts.onError?.(err);
    } catch {
      // A broken error callback must not take the writer down with it.
    }
  };

  /** Wakes `close()` callers once nothing is waiting or in the thread. */
  const resolveIfDrained = (): void => {
    if (stats.queued === 0) for (const resolve of idle.splice(0)) resolve();
  };

  const settle = (reply: Omit<FileWorkerReply, 'seq'>, count: number): void => {
    stats.written += reply.written;
    stats.failed += reply.failed;
    stats.queued -= count;
    if (reply.failed > 0) {
      failedSinceReport += reply.failed;
      const now = Date.now();
      // At most one report per interval, whether the failures are one run or several.
      if (now - lastReport >= errorIntervalMs) {
        const { message, code } = reply.error ?? { message: 'request log files could not be written', code: null };
        const more = lastReport > Number.NEGATIVE_INFINITY ? ` (${failedSinceReport} record(s) failed since the last report)` : '';
        report(Object.assign(new Error(`${message}${more}`), code ? { code } : {}));
        lastReport = now;
        failedSinceReport = 0;
      }
    }
    // Hysteresis: a queue hovering at the bound is one burst, not one report per drop.
    if (stats.queued <= maxQueue / 2 && queuedBytes <= maxQueueBytes / 2) overflowing = false;
    resolveIfDrained();
  };

  /** Reported once per burst (see the hysteresis in `settle`). */
  const overflow = (message: string): void => {
    if (overflowing) return;
    overflowing = true;
    report(new Error(message));
  };

  const failInFlight = (w: Worker, err: unknown): void => {
    if (worker !== w) return;
    worker = null;
    const error = { message: `request log writer thread failed: ${(err as Error)?.message ?? String(err)}`, code: null };
    for (const { count, bytes } of inFlight.values()) {
      queuedBytes -= bytes;
      settle({ written: 0, failed: count, error }, count);
    }
    inFlight.clear();
  };

  const spawn = (): Worker => {
    const w = spawnTsWorker(WORKER_URL, workerData);
    w.on('message', (reply: FileWorkerReply) => {
      const sent = inFlight.get(reply.seq) ?? { count: 0, bytes: 0 };
      inFlight.delete(reply.seq);
      queuedBytes -= sent.bytes;
      // An idle thread must not keep the process alive; a busy one must.
      if (inFlight.size === 0) w.unref();
      settle(reply, sent.count);
    });
    w.on('error', (err) => failInFlight(w, err));
    w.on('exit', (code) => failInFlight(w, new Error(`exited with code ${code}`)));
    w.unref();
    return w;
  };

  const send = (records: RequestRecord[]): void => {
    const w = (worker ??= spawn());
    const id = ++seq;
    const texts: string[] = [];
    let bytes = 0;
    let unsendable = 0;
    let overBudget = 0;
    for (const record of records) {
      const json = recordJson(record);
      if (json === null) unsendable++;
      else if (queuedBytes + bytes + json.length > maxQueueBytes) overBudget++;
      else {
        texts.push(json);
        bytes += json.length;
      }
    }
    if (unsendable > 0) {
      const error = { message: 'request record is not JSON-serialisable', code: null };
      settle({ written: 0, failed: unsendable, error }, unsendable);
    }
    if (overBudget > 0) {
      stats.dropped += overBudget;
      stats.queued -= overBudget;
      overflow(`file log queue full (${maxQueueBytes} bytes of records waiting): dropping records, see stats.dropped`);
      resolveIfDrained();
    }
    if (texts.length === 0) return;
    w.postMessage({ seq: id, records: texts } satisfies FileWorkerRequest);
    inFlight.set(id, { count: texts.length, bytes });
    queuedBytes += bytes;
    w.ref();
  };

  const flush = (): void => {
    scheduled = false;
    const all = outbox;
    outbox = [];
    for (let i = 0; i < all.length; i += RECORDS_PER_MESSAGE) send(all.slice(i, i + RECORDS_PER_MESSAGE));
  };

  // Started now, not on the first record: loading the thread's modules takes a moment.
  worker = spawn();

  return {
    stats,
    publish(record) {
      if (stats.queued >= maxQueue) {
        stats.dropped++;
        overflow(`file log queue full (${maxQueue} records): dropping records, see stats.dropped`);
        return;
      }
      outbox.push(record);
      stats.queued++;
      // setImmediate, not a microtask: serialising for the thread must not run before the caller's
      // response goes out.
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    close() {
      if (stats.queued === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idle.push(resolve));
    },
  };
}
