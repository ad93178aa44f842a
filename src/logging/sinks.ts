import type { Logger } from '../app.ts';
import type { ProxyConfig } from '../config/types.ts';
import { fanOut, nullSink } from './fanout.ts';
import { createFileSink, type FileSinkStats } from './files.ts';
import type { RequestSink } from './types.ts';

export interface Sinks {
  sink: RequestSink;
  files: FileSinkStats | null;
}

/** The sinks the config asks for, fanned out: per-request files and the database writer. */
export async function createSinks(opts: { config: ProxyConfig; rootDir: string; log: Logger }): Promise<Sinks> {
  const { config, log } = opts;
  const sinks: RequestSink[] = [];
  let files: FileSinkStats | null = null;
  if (config.logging.filesEnabled) {
    const fileSink = createFileSink({
      dir: config.logging.dir,
      redactHeaders: config.logging.redactHeaders,
      onError: (err) => log.warn(`request log files: ${(err as Error)?.message ?? String(err)}`),
    });
    files = fileSink.stats;
    sinks.push(fileSink);
  }
  return { sink: sinks.length ? fanOut(sinks) : nullSink, files };
}
