import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createHeaderSanitizer, maskSecret } from './sanitize.ts';
import type { HeaderSanitizer } from './sanitize.ts';
import { renderTranscript, toSnapshot } from './transcript.ts';
import type { RequestRecord, RequestSink } from './types.ts';

export interface FileSinkOptions {
  /** Directory the `.json`/`.log` pairs go to (created on first write). */
  readonly dir: string;
  /** Records accepted but not yet on disk (waiting + being written); beyond it records are dropped. */
  readonly maxQueue?: number;
  /** Records written in parallel. */
  readonly concurrency?: number;
  /** Called once per burst of drops and once per run of consecutive write failures; never per record. */
  readonly onError?: (err: unknown) => void;
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

/** What `maskSecret` produces; masking it again would only lose the hint it keeps (`Bearer sk-****`). */
const MASKED = /^(?:(?:bearer|basic)\s+)?\S{0,3}\*{4}$/i;
/** Query parameters some upstreams use for credentials (e.g. `?key=` on Gemini). */
const SECRET_PARAM = /^(?:api[-_]?key|key|access[-_]?token|token|password|secret)$/i;

function scrubHeaders(headers: Readonly<Record<string, string>>, sanitize: HeaderSanitizer): Record<string, string> {
  const out = sanitize(Object.entries(headers));
  for (const [name, value] of Object.entries(headers)) {
    const key = name.toLowerCase();
    if (out[key] !== value && MASKED.test(value)) out[key] = value;
  }
  return out;
}

function scrubQuery(query: string): string {
  return query.replace(/(^|[&;])([^=&;#]+)=([^&;#]*)/g, (match, sep: string, name: string, value: string) =>
    SECRET_PARAM.test(name) && value && !MASKED.test(value) ? `${sep}${name}=${maskSecret(value)}` : match,
  );
}

function scrubUrl(url: string): string {
  const noUserinfo = url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:)[^/?#@]*@/i, '$1****@');
  const q = noUserinfo.indexOf('?');
  return q < 0 ? noUserinfo : noUserinfo.slice(0, q + 1) + scrubQuery(noUserinfo.slice(q + 1));
}

/**
 * The recorder already masks headers; this second pass is defence in depth, so a future caller that
 * forgets cannot put a credential on disk. It also masks credentials carried in URLs and queries.
 */
export function scrubRecord(r: RequestRecord, sanitize: HeaderSanitizer): RequestRecord {
  return {
    ...r,
    query: scrubQuery(r.query),
    headers: scrubHeaders(r.headers, sanitize),
    attempts: r.attempts.map((a) => ({
      ...a,
      url: scrubUrl(a.url),
      responseHeaders: a.responseHeaders ? scrubHeaders(a.responseHeaders, sanitize) : null,
    })),
  };
}

/** A NaN or zero bound would silently mean "unbounded" or "never write"; fall back to the default. */
function positiveInt(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 1 ? Math.floor(value) : fallback;
}

/**
 * Writes one `.json` + `.log` pair per record, off the request path: `publish` only enqueues; a few
 * workers serialise and write. The queue is bounded by `maxQueue`; what does not fit is counted.
 */
export function createFileSink(opts: FileSinkOptions): FileSink {
  const maxQueue = positiveInt(opts.maxQueue, 10_000);
  const concurrency = positiveInt(opts.concurrency, 8);
  const sanitize = createHeaderSanitizer(opts.redactHeaders ?? []);
  const stats = { written: 0, dropped: 0, failed: 0, queued: 0 };
  // A head index instead of Array#shift keeps taking from a 10k-long queue O(1).
  let waiting: (RequestRecord | undefined)[] = [];
  let head = 0;
  let active = 0;
  let scheduled = false;
  let overflowing = false;
  let failing = false;
  let dirReady: Promise<unknown> | null = null;
  const idle: Array<() => void> = [];

  const report = (err: unknown): void => {
    try {
      opts.onError?.(err);
    } catch {
      // A broken error callback must not take the writer down with it.
    }
  };

  const take = (): RequestRecord | undefined => {
    if (head >= waiting.length) return undefined;
    const record = waiting[head];
    waiting[head++] = undefined;
    if (head === waiting.length || (head >= 1024 && head * 2 >= waiting.length)) {
      waiting = waiting.slice(head);
      head = 0;
    }
    return record;
  };

  // Cached only on success, so a directory that appears later (or is repaired) is picked up.
  const ensureDir = (): Promise<unknown> =>
    (dirReady ??= mkdir(opts.dir, { recursive: true }).catch((err: unknown) => {
      dirReady = null;
      throw err;
    }));

  const writeOne = async (record: RequestRecord): Promise<void> => {
    try {
      const clean = scrubRecord(record, sanitize);
      const base = path.join(opts.dir, fileBaseName(clean));
      const json = `${JSON.stringify(toSnapshot(clean), null, 2)}\n`;
      const log = renderTranscript(clean);
      await ensureDir();
      await Promise.all([writeFile(`${base}.json`, json), writeFile(`${base}.log`, log)]);
      stats.written++;
      failing = false;
    } catch (err) {
      stats.failed++;
      if (!failing) {
        failing = true;
        report(err);
      }
    } finally {
      stats.queued--;
      // Hysteresis: a queue hovering at the bound is one burst, not one report per drop.
      if (stats.queued <= maxQueue / 2) overflowing = false;
      if (stats.queued === 0) for (const resolve of idle.splice(0)) resolve();
    }
  };

  const worker = async (): Promise<void> => {
    try {
      for (let record = take(); record; record = take()) {
        await writeOne(record);
        // Serialising is synchronous CPU work; let requests run between records of a long backlog.
        if (head < waiting.length) await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      active--;
    }
  };

  const startWorkers = (): void => {
    scheduled = false;
    while (active < concurrency && head < waiting.length) {
      active++;
      void worker();
    }
  };

  return {
    stats,
    publish(record) {
      if (stats.queued >= maxQueue) {
        stats.dropped++;
        if (!overflowing) {
          overflowing = true;
          report(new Error(`file log queue full (${maxQueue} records): dropping records, see stats.dropped`));
        }
        return;
      }
      waiting.push(record);
      stats.queued++;
      // setImmediate, not a microtask: serialisation must not run before the caller's response goes out.
      if (!scheduled && active < concurrency) {
        scheduled = true;
        setImmediate(startWorkers);
      }
    },
    close() {
      if (stats.queued === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idle.push(resolve));
    },
  };
}
