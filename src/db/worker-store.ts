/**
 * The main-thread side of a writer thread (SQLite: sqlite-worker.ts, PostgreSQL: pg-worker.ts): a
 * BatchStore that hands each batch to the thread and awaits its reply. The thread owns its own
 * connection(s), encodes the records and inserts them, so neither the encoding nor the driver's
 * work runs on the event loop. A crashed thread fails its pending calls (the writer spools those
 * batches) and is replaced on the next call (the recovery loop's probe).
 *
 * The protocol (`WorkerRequest` / `WorkerReply`) is the same for every writer thread: records (or
 * rows) are staged per batch number, so the next batch is handed over and encoded while the
 * current one commits, and `write` commits one batch's staged rows.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Worker } from 'node:worker_threads';
import { spawnTsWorker } from '../ts-worker.ts';
import { ERROR_INSERT_COLUMNS, REQUEST_INSERT_COLUMNS } from './batch.ts';
import type { BatchStore, RecordsWriteResult } from './store.ts';
import { recordToRows, type RecordRows } from './rows.ts';
import { jsonLines } from './writer-encode.ts';
import type { HeaderSanitizer } from '../logging/sanitize.ts';
import type { RequestRecord } from '../logging/types.ts';

/**
 * Rows and records are staged per batch number and committed by `write` for that batch, so the
 * next batch can be handed over (and encoded in the thread) while the current one commits, and a
 * replay batch never mixes with a live one. `discard` drops a batch that went to the spool instead.
 */
export type WorkerRequest =
  /** Encoded rows, values in `REQUEST_INSERT_COLUMNS` / `ERROR_INSERT_COLUMNS` order. */
  | { readonly op: 'rows'; readonly batch: number; readonly requests: unknown[][]; readonly errors: unknown[][] }
  /**
   * Records as JSON-lines chunks (writer-encode.ts `jsonLines`). `last` marks the batch's final
   * message (the PostgreSQL thread starts inserting it then).
   */
  | { readonly op: 'records'; readonly batch: number; readonly records: readonly string[]; readonly last?: boolean }
  | { readonly op: 'discard'; readonly batch: number }
  | { readonly id: number; readonly op: 'write'; readonly batch: number; readonly strict?: boolean }
  | { readonly id: number; readonly op: 'probe' | 'close' };

/** A staged record that could not be encoded: its position among the staged records, and why. */
export interface BadRecord {
  readonly index: number;
  readonly message: string;
}

export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly inserted: number; readonly bad?: readonly BadRecord[] }
  | { readonly id: number; readonly ok: false; readonly message: string; readonly code: string | null };

const ROWS_PER_MESSAGE = 100;
/**
 * JSON-lines chunks per message (each holds the records one turn of the writer's loop
 * serialised, 64 at most): the loop gets a turn between two messages while the thread encodes.
 */
const CHUNKS_PER_MESSAGE = 8;

/** A failure the thread reported (the driver's message and error code, e.g. SQLITE_BUSY, 23505). */
export class WorkerStoreError extends Error {
  readonly code: string | null;

  constructor(message: string, code: string | null, name = 'WorkerStoreError') {
    super(message);
    this.name = name;
    this.code = code;
  }
}

export interface WorkerStoreOptions {
  /** The thread's entry module (a `.ts` file is started through tsx, see ts-worker.ts). */
  readonly url: URL;
  /** Its `workerData`: plain data only (structured-cloned). */
  readonly data: unknown;
  /** In messages: "SQLite writer thread exited (code 1)". */
  readonly label: string;
  /** `name` of the errors the thread reports. */
  readonly errorName?: string;
}

/** A request that gets a reply, before it gets its id. */
type Outgoing = Extract<WorkerRequest, { id: number }> extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

type Pending = { resolve: (reply: WorkerReply) => void; reject: (err: Error) => void };

/** Records on their way to (or staged in) the thread, under their batch number. */
interface Staged {
  readonly worker: Worker;
  readonly batch: number;
  /** Settles once every message of the batch is posted. */
  readonly posted: Promise<void>;
}

export function createWorkerStore(opts: WorkerStoreOptions): BatchStore {
  const { label } = opts;
  let worker: Worker | null = null;
  const pending = new Map<number, Pending>();
  let nextId = 1;

  const failAll = (w: Worker, err: Error): void => {
    if (worker !== w) return;
    worker = null;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };

  const spawn = (): Worker => {
    const w = spawnTsWorker(opts.url, opts.data);
    w.on('message', (reply: WorkerReply) => {
      const p = pending.get(reply.id);
      pending.delete(reply.id);
      // An idle worker must not keep the process alive; a busy one must.
      if (pending.size === 0) w.unref();
      p?.resolve(reply);
    });
    w.on('error', (err) => failAll(w, err));
    w.on('exit', (code) => failAll(w, new Error(`${label} exited (code ${code})`)));
    return w;
  };

  /** `w`: the thread that must answer (the one holding a batch's staged rows). */
  const call = async (msg: Outgoing, w: Worker = (worker ??= spawn())): Promise<Extract<WorkerReply, { ok: true }>> => {
    if (worker !== w) throw new Error(`${label} exited`);
    const id = nextId++;
    const reply = await new Promise<WorkerReply>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ ...msg, id });
    });
    if (!reply.ok) throw new WorkerStoreError(reply.message, reply.code, opts.errorName);
    return reply;
  };

  let nextBatch = 1;
  /** Batches handed over ahead of their write (see `prestage`). */
  const prestaged = new WeakMap<readonly string[], Staged>();

  /** Posts `texts` to the thread under a new batch number, 8 chunks a message, the loop running between. */
  const stage = (texts: readonly string[]): Staged => {
    const w = (worker ??= spawn());
    const batch = nextBatch++;
    const posted = (async () => {
      for (let i = 0; i < texts.length; i += CHUNKS_PER_MESSAGE) {
        if (i > 0) await yieldToLoop();
        if (worker !== w) return;
        const part = texts.slice(i, i + CHUNKS_PER_MESSAGE);
        const last = i + CHUNKS_PER_MESSAGE >= texts.length;
        w.postMessage({ op: 'records', batch, records: part, ...(last ? { last } : {}) } satisfies WorkerRequest);
      }
    })();
    return { worker: w, batch, posted };
  };

  // Started now, not on the first batch: loading the worker's modules takes about a second.
  worker = spawn();
  worker.unref();

  return {
    async write(rows) {
      const w = (worker ??= spawn());
      // Values in column order, structured-cloned in chunks of 100 rows (~0.2 ms each): JSON text
      // would cost a second escaping of every JSON column. All chunks go out at once: yielding
      // between them let the next batch's encoding slices in, and the thread sat idle meanwhile.
      const requests = rows.requests.map((r) => REQUEST_INSERT_COLUMNS.map((c) => r[c] ?? null));
      const errors = rows.errors.map((r) => ERROR_INSERT_COLUMNS.map((c) => r[c] ?? null));
      const batch = nextBatch++;
      for (let i = 0; i < Math.max(requests.length, errors.length); i += ROWS_PER_MESSAGE) {
        w.postMessage({
          op: 'rows',
          batch,
          requests: requests.slice(i, i + ROWS_PER_MESSAGE),
          errors: errors.slice(i, i + ROWS_PER_MESSAGE),
        } satisfies WorkerRequest);
      }
      return (await call({ op: 'write', batch }, w)).inserted;
    },
    prestage(texts) {
      if (!prestaged.has(texts)) prestaged.set(texts, stage(texts));
    },
    discard(texts) {
      const staged = prestaged.get(texts);
      prestaged.delete(texts);
      if (staged && worker === staged.worker) void staged.posted.then(() => staged.worker.postMessage({ op: 'discard', batch: staged.batch } satisfies WorkerRequest));
    },
    async writeRecords(texts, strict): Promise<RecordsWriteResult> {
      const staged = prestaged.get(texts) ?? stage(texts);
      prestaged.delete(texts);
      await staged.posted;
      const reply = await call({ op: 'write', batch: staged.batch, strict }, staged.worker);
      return { inserted: reply.inserted, bad: (reply.bad ?? []).map((b) => ({ index: b.index, error: new Error(b.message) })) };
    },
    async probe() {
      await call({ op: 'probe' });
    },
    async close() {
      const w = worker;
      if (!w) return;
      await call({ op: 'close' }).catch(() => undefined);
      worker = null;
      await w.terminate();
    },
  };
}

/**
 * A writer thread's handling of a `records` message: each record of the JSON-lines chunks is
 * parsed, mapped to rows (secrets re-masked) and handed to `take`, which encodes and stages them.
 * A record that fails on the way (here or in `take`, before it stages anything) is reported in
 * `bad` by its position among the batch's records, which the writer maps back with `jsonLines`.
 */
export function stageChunks(
  staged: { records: number; bad: BadRecord[] },
  chunks: readonly string[],
  sanitize: HeaderSanitizer,
  take: (rows: RecordRows) => void,
): void {
  for (const json of jsonLines(chunks)) {
    const index = staged.records++;
    try {
      take(recordToRows(JSON.parse(json) as RequestRecord, sanitize));
    } catch (err) {
      staged.bad.push({ index, message: err instanceof Error ? err.message : String(err) });
    }
  }
}

/**
 * The writer threads' staging area: what each batch number has received so far, created on its
 * first message and taken out by its write or discard.
 */
export class StagedBatches<T> extends Map<number, T> {
  constructor(private readonly empty: () => T) {
    super();
  }

  /** The batch's stage, created empty on first use. */
  of(batch: number): T {
    let staged = this.get(batch);
    if (staged === undefined) {
      staged = this.empty();
      this.set(batch, staged);
    }
    return staged;
  }

  /** Removes and returns the batch's stage (an empty one if nothing was staged). */
  take(batch: number): T {
    const staged = this.get(batch) ?? this.empty();
    this.delete(batch);
    return staged;
  }
}
