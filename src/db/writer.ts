/**
 * The database writer (a RequestSink): `publish` only enqueues. On the next turn of the loop the
 * records become JSON text (wire.ts: the same string the file sink sends its thread), joined into
 * one JSON-lines chunk per turn, and the queue holds those chunks, not the records. A record is a
 * graph of many small objects, and one that waited a batch interval in the queue survived
 * young-generation collections, each of which had to copy it again (measured: 5-7 ms scavenges on
 * the publishing thread at 14,000 rows/s); a chunk is one string, and one of more than 128 KB
 * lives in V8's large-object space, which collections never copy. Rows are
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
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { recordJson } from '../logging/wire.ts';
import { createLane } from './lane.ts';
import { createRecovery } from './recovery.ts';
import { createSpool } from './spool.ts';
import { createRecordEncoder, jsonLines } from './writer-encode.ts';
import { pickStore } from './writer-options.ts';
import type { DbWriter, DbWriterOptions, DbWriterStats } from './writer-options.ts';
import type { BatchStore } from './store.ts';

export type { DbWriter, DbWriterOptions, DbWriterStats } from './writer-options.ts';

type WriteRecords = NonNullable<BatchStore['writeRecords']>;

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Records serialised per turn of the loop: 64 × 10-20 µs, about a millisecond. */
const ABSORB_SLICE = 64;

/** Records as JSON lines: their JSON texts joined by `\n` (JSON.stringify never emits a raw newline). */
interface Chunk {
  readonly text: string;
  readonly rows: number;
}

/** A batch as the stores and the spool take it: JSON-lines chunks, and the records they hold. */
interface Batch {
  readonly texts: string[];
  readonly rows: number;
}

/** The first `rows` records of `chunk`, and the rest. */
function splitChunk(chunk: Chunk, rows: number): [Chunk, Chunk] {
  let at = -1;
  for (let i = 0; i < rows; i++) at = chunk.text.indexOf('\n', at + 1);
  return [
    { text: chunk.text.slice(0, at), rows },
    { text: chunk.text.slice(at + 1), rows: chunk.rows - rows },
  ];
}

const chunkOf = (texts: readonly string[], from: number, to: number): Chunk => ({
  text: from === 0 && to === texts.length ? texts.join('\n') : texts.slice(from, to).join('\n'),
  rows: to - from,
});

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
  let queue: Chunk[] = [];
  let queueRows = 0;
  let overflow: Chunk[] = [];
  let overflowRows = 0;
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

  /** `texts`: JSON-lines chunks holding `rows` records in all (the spool's own format). */
  const toSpool = async (texts: readonly string[], rows: number): Promise<void> => {
    if (await spool.append(texts)) {
      stats.spooled += rows;
      dropping = false;
      recovery.schedule();
    } else drop(rows, spool.lastError);
  };

  const rejectLine = async (line: string, reason: unknown): Promise<void> => {
    const kept = await spool.reject(line);
    stats.dropped++;
    log.error(`database log: a row the database refuses was moved to ${spool.dir}/rejected${kept ? '' : ' (failed, lost)'}: ${message(reason)}`);
  };

  /** Writes a batch, or spools it when the database is down or the write fails. */
  const deliver = async (batch: Batch, encoded: Awaited<ReturnType<typeof encode>> | null): Promise<void> => {
    try {
      if (!stats.dbUp) {
        store.discard?.(batch.texts);
        return await toSpool(batch.texts, batch.rows);
      }
      if (writeRecords) return await deliverRecords(writeRecords, batch);
      if (!encoded) return await toSpool(batch.texts, batch.rows);
      for (const bad of encoded.bad) await rejectLine(bad.text, bad.error);
      if (encoded.good.length === 0) return;
      try {
        stats.written += await serial(() => store.write(encoded.rows));
      } catch (err) {
        markDown(err);
        await toSpool(encoded.good, encoded.good.length);
      }
    } finally {
      stats.queued -= batch.rows;
    }
  };

  /** The store encodes (SQLite's thread): records that cannot become rows are set aside after. */
  const deliverRecords = async (write: WriteRecords, batch: Batch): Promise<void> => {
    let result: Awaited<ReturnType<WriteRecords>>;
    try {
      result = await serial(() => write(batch.texts, false));
    } catch (err) {
      markDown(err);
      return toSpool(batch.texts, batch.rows);
    }
    stats.written += result.inserted;
    if (result.bad.length === 0) return;
    const lines = jsonLines(batch.texts);
    for (const bad of result.bad) await rejectLine(lines[bad.index]!, bad.error);
  };

  // Closing: whatever is queued is due, once every record published has been serialised (so the
  // last batches are full ones, not a 64-record slice each).
  const due = (): boolean => queueRows >= batchMaxRows || (closing && fresh.length === 0) || performance.now() - oldestAt >= batchMaxMs;

  /** The next batch: up to `batchMaxRows` rows from the queue's head (a chunk is split at the bound). */
  const takeBatch = (): Batch => {
    const texts: string[] = [];
    let rows = 0;
    let n = 0;
    while (n < queue.length && rows < batchMaxRows) {
      const chunk = queue[n]!;
      const room = batchMaxRows - rows;
      if (chunk.rows <= room) {
        texts.push(chunk.text);
        rows += chunk.rows;
        n++;
      } else {
        const [head, tail] = splitChunk(chunk, room);
        texts.push(head.text);
        rows += head.rows;
        queue[n] = tail;
      }
    }
    queue = queue.slice(n);
    queueRows -= rows;
    return { texts, rows };
  };

  // Woken when the next batch becomes due while one is still committing (see runFlush): by
  // absorb, or by a timer at its batch_max_ms. With the queue empty there is no timer to arm;
  // absorb wakes the waiter when the first rows arrive, so it can arm one.
  let dueWaiter: (() => void) | null = null;
  const nextDue = (): Promise<void> =>
    new Promise((resolve) => {
      const timer = queue.length > 0 ? setTimeout(wake, Math.max(0, oldestAt + batchMaxMs - performance.now())) : null;
      function wake(): void {
        if (timer !== null) clearTimeout(timer);
        dueWaiter = null;
        resolve();
      }
      dueWaiter = wake;
    });

  const runFlush = async (): Promise<void> => {
    let previous: Promise<void> | null = null;
    let previousDone = false;
    for (;;) {
      if (queue.length === 0 || !due()) {
        if (previous === null || previousDone) break;
        // The batch in flight is committing: the next one is handed over as soon as it is due,
        // so the store encodes it meanwhile (a burst), not after.
        await Promise.race([previous, nextDue()]);
        dueWaiter?.();
        continue;
      }
      const batch = takeBatch();
      oldestAt = performance.now();
      // Encoding runs while the previous batch commits: two cores, two stages.
      const encoded = stats.dbUp && !writeRecords ? await encode(batch.texts) : null;
      // A store that encodes for itself gets the records now, while the previous batch commits.
      if (stats.dbUp && writeRecords) store.prestage?.(batch.texts);
      if (previous) await previous;
      const delivering = deliver(batch, encoded);
      previous = delivering;
      previousDone = false;
      const markDone = (): void => {
        if (previous === delivering) previousDone = true;
      };
      // then(f, f), not finally: a derived promise that rejects would be an unhandled rejection.
      delivering.then(markDone, markDone);
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
    if (records.length > ABSORB_SLICE) {
      fresh = records.slice(ABSORB_SLICE);
      records = records.slice(0, ABSORB_SLICE);
      absorbing = true;
      setImmediate(absorb);
    } else fresh = [];
    const texts: string[] = [];
    for (const record of records) {
      // Records are plain data by contract; one that is not costs only itself.
      const text = recordJson(record);
      if (text !== null) texts.push(text);
      else {
        stats.queued--;
        drop(1, 'record is not JSON-serialisable');
      }
    }
    const toQueue = Math.min(texts.length, queueMaxRows - queueRows);
    const wasEmpty = queue.length === 0;
    if (toQueue > 0) {
      if (queueRows === 0) oldestAt = performance.now();
      queue.push(chunkOf(texts, 0, toQueue));
      queueRows += toQueue;
    }
    const toOverflow = Math.min(texts.length - toQueue, overflowMax - overflowRows);
    if (toOverflow > 0) {
      overflow.push(chunkOf(texts, toQueue, toQueue + toOverflow));
      if (overflowRows === 0) setImmediate(flushOverflow);
      overflowRows += toOverflow;
    }
    if (dueWaiter !== null && (due() || (wasEmpty && queue.length > 0))) dueWaiter();
    const lost = texts.length - toQueue - toOverflow;
    if (lost > 0) {
      stats.queued -= lost;
      drop(lost, 'queue and spool backlog full');
    }
    schedule();
  }

  const flushOverflow = (): void => {
    if (overflowing || overflow.length === 0) return;
    const texts = overflow.map((c) => c.text);
    const rows = overflowRows;
    overflow = [];
    overflowRows = 0;
    overflowing = toSpool(texts, rows).finally(() => {
      stats.queued -= rows;
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
        dueWaiter?.();
        await recovery.stop();
        while (fresh.length > 0 || queue.length > 0 || flushing || overflow.length > 0 || overflowing) {
          if (!absorbing) absorb();
          startFlush();
          flushOverflow();
          // A burst is still being serialised a slice per turn: let those turns run.
          await Promise.all([flushing, overflowing, fresh.length > 0 ? yieldToLoop() : null]);
        }
        accepting = false;
        await spool.close();
        await store.close();
      })());
    },
  };
}
