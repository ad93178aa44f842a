/**
 * The database writer (a RequestSink): `publish` only enqueues. On the next turn of the loop the
 * records become JSON text (wire.ts: the same string the file sink sends its thread), and the
 * queue holds that text, not the records: a record is a graph of many small objects, and one that
 * waited a batch interval in the queue survived young-generation collections, each of which then
 * had to copy it (measured: 5-7 ms scavenges on the publishing thread at 14,000 rows/s). Rows are
 * flushed in batches (`batchMaxRows` rows, or about `batchMaxMs` after the first queued row), one
 * transaction per batch, one batch in flight at a time. The proxy's stores (the SQLite and
 * PostgreSQL writer threads) take the text and encode it in their thread; with an in-process
 * store (`db`: tests, SQLite `:memory:`) the next batch is encoded here while the current one
 * commits.
 * When the queue is full, or the database fails, records go to the spool; a recovery loop with
 * backoff probes the database and replays the spool (replay.ts). What cannot be kept anywhere is
 * counted in `stats.dropped` and logged.
 */
import { createHeaderSanitizer } from '../logging/sanitize.ts';
import type { RequestRecord } from '../logging/types.ts';
import { recordJson } from '../logging/wire.ts';
import { createLane } from './lane.ts';
import { createRecovery } from './recovery.ts';
import { createSpool } from './spool.ts';
import { createRecordEncoder } from './writer-encode.ts';
import { pickStore } from './writer-options.ts';
import type { DbWriter, DbWriterOptions, DbWriterStats } from './writer-options.ts';
import type { BatchStore } from './store.ts';

export type { DbWriter, DbWriterOptions, DbWriterStats } from './writer-options.ts';

type WriteRecords = NonNullable<BatchStore['writeRecords']>;

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Records serialised per turn of the loop: 64 × 10-20 µs, about a millisecond. */
const ABSORB_SLICE = 64;

export function createDbWriter(opts: DbWriterOptions): DbWriter {
  const { batchMaxRows, batchMaxMs, queueMaxRows } = opts.config;
  const { log } = opts;
  const retry = opts.retry ?? { minMs: 500, maxMs: 30_000 };
  // Records past the queue wait here for the next tick's spool append (then the spool's byte
  // bound applies); only a burst this large within one tick is dropped.
  const overflowMax = Math.max(queueMaxRows, 1_000);
  const store = pickStore(opts);
  const spool = createSpool({ dir: opts.spoolDir, maxPendingBytes: opts.maxSpoolPendingBytes });
  const encode = createRecordEncoder(opts.dialect, createHeaderSanitizer(opts.redactHeaders ?? []));
  // Stores that encode for themselves (off the event loop) get the records as they are.
  const writeRecords: WriteRecords | null = store.writeRecords ? store.writeRecords.bind(store) : null;
  const stats: DbWriterStats = { queued: 0, written: 0, spooled: 0, replayed: 0, dropped: 0, writeErrors: 0, lastError: null, dbUp: !opts.startDown };

  // Published this turn of the loop, serialised on the next (setImmediate, so never before the
  // caller's response goes out).
  let fresh: RequestRecord[] = [];
  let absorbing = false;
  let queue: string[] = [];
  let overflow: string[] = [];
  let oldestAt = 0;
  let batchTimer: NodeJS.Timeout | null = null;
  let flushSoon = false;
  let flushing: Promise<void> | null = null;
  let overflowing: Promise<void> | null = null;
  let closing = false;
  let closed: Promise<void> | null = null;
  let accepting = true;
  let dropping = false;
  // Live batches, replay batches and probes take turns on the store.
  const serial = createLane(opts.opTimeoutMs ?? 30_000);

  const drop = (n: number, why: unknown): void => {
    stats.dropped += n;
    stats.lastError = message(why);
    if (!dropping) log.error(`database log: ${n} record(s) lost, neither database nor spool could keep them: ${message(why)} (further losses are only counted, in stats.dropped)`);
    dropping = true;
  };

  const markDown = (err: unknown): void => {
    stats.writeErrors++;
    stats.lastError = message(err);
    if (stats.dbUp) log.warn(`database log: write failed, spooling to ${spool.dir} until it recovers: ${message(err)}`);
    stats.dbUp = false;
  };

  const toSpool = async (lines: readonly string[]): Promise<void> => {
    if (await spool.append(lines)) {
      stats.spooled += lines.length;
      dropping = false;
      recovery.schedule();
    } else drop(lines.length, spool.lastError);
  };

  const rejectLine = async (line: string, reason: unknown): Promise<void> => {
    const kept = await spool.reject(line);
    stats.dropped++;
    log.error(`database log: a row the database refuses was moved to ${spool.dir}/rejected${kept ? '' : ' (failed, lost)'}: ${message(reason)}`);
  };

  /** Writes a batch, or spools it when the database is down or the write fails. */
  const deliver = async (batch: readonly string[], encoded: Awaited<ReturnType<typeof encode>> | null): Promise<void> => {
    try {
      if (!stats.dbUp) {
        store.discard?.(batch);
        return await toSpool(batch);
      }
      if (writeRecords) return await deliverRecords(writeRecords, batch);
      if (!encoded) return await toSpool(batch);
      for (const bad of encoded.bad) await rejectLine(bad.text, bad.error);
      if (encoded.good.length === 0) return;
      try {
        stats.written += await serial(() => store.write(encoded.rows));
      } catch (err) {
        markDown(err);
        await toSpool(encoded.good);
      }
    } finally {
      stats.queued -= batch.length;
    }
  };

  /** The store encodes (SQLite's thread): records that cannot become rows are set aside after. */
  const deliverRecords = async (write: WriteRecords, batch: readonly string[]): Promise<void> => {
    let result: Awaited<ReturnType<WriteRecords>>;
    try {
      result = await serial(() => write(batch, false));
    } catch (err) {
      markDown(err);
      return toSpool(batch);
    }
    stats.written += result.inserted;
    for (const bad of result.bad) await rejectLine(batch[bad.index]!, bad.error);
  };

  const due = (): boolean => queue.length >= batchMaxRows || closing || performance.now() - oldestAt >= batchMaxMs;

  const runFlush = async (): Promise<void> => {
    let previous: Promise<void> | null = null;
    while (queue.length > 0 && due()) {
      const batch = queue.length <= batchMaxRows ? queue : queue.slice(0, batchMaxRows);
      queue = queue.length <= batchMaxRows ? [] : queue.slice(batchMaxRows);
      oldestAt = performance.now();
      // Encoding runs while the previous batch commits: two cores, two stages.
      const encoded = stats.dbUp && !writeRecords ? await encode(batch) : null;
      // A store that encodes for itself gets the records now, while the previous batch commits.
      if (stats.dbUp && writeRecords) store.prestage?.(batch);
      if (previous) await previous;
      previous = deliver(batch, encoded);
    }
    if (previous) await previous;
  };

  const startFlush = (): void => {
    if (batchTimer) clearTimeout(batchTimer);
    batchTimer = null;
    flushSoon = false;
    if (flushing || queue.length === 0) return;
    flushing = runFlush().finally(() => {
      flushing = null;
      if (queue.length > 0) schedule();
    });
  };

  function schedule(): void {
    if (flushing || flushSoon) return;
    if (due()) {
      // Deferred even when due: publish() must not encode, the request must not pay for it.
      if (batchTimer) clearTimeout(batchTimer);
      batchTimer = null;
      flushSoon = true;
      setImmediate(startFlush);
    } else batchTimer ??= setTimeout(startFlush, Math.max(0, oldestAt + batchMaxMs - performance.now()));
  }

  /**
   * This turn's records → JSON text → the queue (or, past its bound, the spool). A burst larger
   * than ABSORB_SLICE goes a slice per turn, so the loop (and the thread taking the batches)
   * keeps moving while it is serialised.
   */
  function absorb(): void {
    absorbing = false;
    if (fresh.length === 0) return;
    let records = fresh;
    if (records.length > ABSORB_SLICE && !closing) {
      fresh = records.slice(ABSORB_SLICE);
      records = records.slice(0, ABSORB_SLICE);
      absorbing = true;
      setImmediate(absorb);
    } else fresh = [];
    for (const record of records) {
      // Records are plain data by contract; one that is not costs only itself.
      const text = recordJson(record);
      if (text === null) {
        stats.queued--;
        drop(1, 'record is not JSON-serialisable');
      } else if (queue.length < queueMaxRows) {
        if (queue.length === 0) oldestAt = performance.now();
        queue.push(text);
      } else if (overflow.length < overflowMax) {
        overflow.push(text);
        if (overflow.length === 1) setImmediate(flushOverflow);
      } else {
        stats.queued--;
        drop(1, 'queue and spool backlog full');
      }
    }
    schedule();
  }

  const flushOverflow = (): void => {
    if (overflowing || overflow.length === 0) return;
    const batch = overflow;
    overflow = [];
    overflowing = toSpool(batch).finally(() => {
      stats.queued -= batch.length;
      overflowing = null;
      flushOverflow();
    });
  };

  const recovery = createRecovery({
    spool,
    log,
    batchSize: batchMaxRows,
    retry,
    prepare: opts.prepare,
    state: stats,
    probe: () => serial(() => store.probe()),
    insert: async (lines) => {
      if (writeRecords) return (await serial(() => writeRecords(lines, true))).inserted;
      const e = await encode(lines);
      if (e.bad.length) throw e.bad[0]!.error;
      return serial(() => store.write(e.rows));
    },
    onRejected: rejectLine,
    onFailure: markDown,
    stopping: () => closing,
  });

  // Leftovers of an earlier run (and a pending `prepare`) are handled right away.
  recovery.schedule(0);

  return {
    stats,
    async warmUp() {
      if (!stats.dbUp) return;
      try {
        await serial(() => store.probe());
      } catch (err) {
        // Not fatal: the first batch finds the same problem and spools.
        log.warn(`database log: writer not ready at start-up: ${message(err)}`);
      }
    },
    publish(record) {
      if (!accepting) return drop(1, 'database writer is closed');
      stats.queued++;
      fresh.push(record);
      if (!absorbing) {
        absorbing = true;
        setImmediate(absorb);
      }
    },
    close() {
      return (closed ??= (async () => {
        closing = true;
        await recovery.stop();
        while (fresh.length > 0 || queue.length > 0 || flushing || overflow.length > 0 || overflowing) {
          absorb();
          startFlush();
          flushOverflow();
          await Promise.all([flushing, overflowing]);
        }
        accepting = false;
        await spool.close();
        await store.close();
      })());
    },
  };
}
