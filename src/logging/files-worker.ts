/**
 * Worker thread that renders and writes the per-request `.json` + `.log` pair. Creating two files
 * per request costs far more in the kernel than rendering them (about 100-250 µs of system time
 * per record on the development VM), and rendering pretty JSON is the main thread's largest
 * logging cost; here neither touches the event loop that serves requests. Writes are synchronous:
 * this thread has nothing else to do, and one syscall each is cheaper than the promise API's
 * open/write/close round trips through the libuv pool.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { fileBaseName } from './files.ts';
import { createHeaderSanitizer } from './sanitize.ts';
import { scrubRecord } from './scrub.ts';
import { renderTranscript, toSnapshot } from './transcript.ts';
import type { RequestRecord } from './types.ts';

export interface FileWorkerData {
  readonly dir: string;
  readonly redactHeaders: readonly string[];
}

export interface FileWorkerRequest {
  readonly seq: number;
  /** Records as JSON text (wire.ts). */
  readonly records: readonly string[];
}

export interface FileWorkerReply {
  readonly seq: number;
  readonly written: number;
  readonly failed: number;
  /** The batch's first failure (Error objects lose `code` when cloned, so it travels as fields). */
  readonly error: { readonly message: string; readonly code: string | null } | null;
}

const data = workerData as FileWorkerData;
const sanitize = createHeaderSanitizer(data.redactHeaders);
// Only a success is remembered, so a directory that appears later (or is repaired) is picked up.
let dirReady = false;

function writeRecord(text: string): void {
  const clean = scrubRecord(JSON.parse(text) as RequestRecord, sanitize);
  const base = path.join(data.dir, fileBaseName(clean));
  const json = `${JSON.stringify(toSnapshot(clean), null, 2)}\n`;
  const log = renderTranscript(clean);
  if (!dirReady) {
    mkdirSync(data.dir, { recursive: true });
    dirReady = true;
  }
  writeFileSync(`${base}.json`, json);
  writeFileSync(`${base}.log`, log);
}

parentPort?.on('message', ({ seq, records }: FileWorkerRequest) => {
  let written = 0;
  let failed = 0;
  let error: FileWorkerReply['error'] = null;
  for (const record of records) {
    try {
      writeRecord(record);
      written++;
    } catch (err) {
      failed++;
      dirReady = false;
      if (!error) {
        const code = (err as { code?: unknown })?.code;
        error = { message: err instanceof Error ? err.message : String(err), code: typeof code === 'string' ? code : null };
      }
    }
  }
  parentPort?.postMessage({ seq, written, failed, error } satisfies FileWorkerReply);
});
