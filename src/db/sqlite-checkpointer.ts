/**
 * Thread that checkpoints the SQLite writer's WAL, so the writer thread only appends. A
 * checkpoint copies every committed page a second time (WAL → database file) and fsyncs both
 * files; in the writer thread that was as much work as the inserts themselves. WAL mode lets a
 * checkpoint run on another connection while the writer commits: PASSIVE never takes the write
 * lock and never waits for readers, it copies what is committed and stops.
 *
 * The writer keeps SQLite's own auto-checkpoint as a safety net (sqlite-worker.ts): if this thread
 * dies or falls behind, the WAL is still bounded.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteRaw } from './factory.ts';
import type { SqliteConnection } from './factory.ts';

export interface CheckpointerData {
  readonly file: string;
  /** Pause between two checkpoints (default 250 ms). */
  readonly everyMs?: number;
}

const data = workerData as CheckpointerData;
// Each checkpoint fsyncs twice whatever it copies; at 20,000 rows/s a quarter second of rows is
// still far below the writer's own 10,000-page bound.
const everyMs = Math.max(10, data.everyMs ?? 250);
let conn: SqliteConnection | null = null;

function connection(): SqliteConnection {
  if (conn) return conn;
  // A file that is gone stays gone: the writer thread notices and reports it.
  const opened = openSqliteRaw(data.file, undefined, { mustExist: true });
  // Never wait for a lock here: a busy database is retried on the next tick.
  opened.pragma('busy_timeout = 0');
  return (conn = opened);
}

function checkpoint(): void {
  try {
    connection().pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy, or the file is gone or replaced: reopen next time; the writer's safety net holds.
    try {
      conn?.close();
    } catch {
      // Already broken.
    }
    conn = null;
  }
}

const timer = setInterval(checkpoint, everyMs);
parentPort?.on('message', (msg: { op: 'close' }) => {
  if (msg.op !== 'close') return;
  clearInterval(timer);
  checkpoint();
  conn?.close();
  conn = null;
  parentPort?.close();
});
