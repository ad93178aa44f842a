/**
 * Thread that checkpoints the SQLite writer's WAL, so the writer thread only appends. A
 * checkpoint copies every committed page a second time (WAL → database file) and fsyncs both
 * files; in the writer thread that was as much work as the inserts themselves. WAL mode lets a
 * checkpoint run on another connection while the writer commits: PASSIVE never takes the write
 * lock and never waits for readers, it copies what is committed and stops.
 *
 * Plain JavaScript on purpose, and the one importer of better-sqlite3 besides factory.ts: a thread
 * started through tsx carries a loader of its own plus the module graph of what it imports (about
 * 60 MB resident for this one when it went through factory.ts); this one needs the driver and
 * nothing else. The writer keeps SQLite's own auto-checkpoint as the bound (sqlite-worker.ts): if
 * this thread dies or falls behind, the WAL is still bounded.
 *
 * workerData: { file: string (absolute path), everyMs?: number (pause between checkpoints) }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

// Each checkpoint fsyncs twice whatever it copies; at 20,000 rows/s a quarter second of rows is
// still far below the writer's own 10,000-page bound.
const everyMs = Math.max(10, workerData.everyMs ?? 250);
/** @type {import('better-sqlite3').Database | null} */
let conn = null;

function connection() {
  if (conn) return conn;
  // A file that is gone stays gone: the writer thread notices and reports it.
  const opened = new Database(workerData.file, { fileMustExist: true });
  // The writer's durability setting (factory.ts); never wait for a lock: busy is retried next tick.
  opened.pragma('synchronous = NORMAL');
  opened.pragma('busy_timeout = 0');
  return (conn = opened);
}

function checkpoint() {
  try {
    connection().pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy, or the file is gone or replaced: reopen next time; the writer's bound holds.
    try {
      conn?.close();
    } catch {
      // Already broken.
    }
    conn = null;
  }
}

const timer = setInterval(checkpoint, everyMs);
parentPort?.on('message', (msg) => {
  if (msg?.op !== 'close') return;
  clearInterval(timer);
  checkpoint();
  conn?.close();
  conn = null;
  parentPort?.close();
});
