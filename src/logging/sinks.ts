import type { Logger } from '../app.ts';
import type { ProxyConfig } from '../config/types.ts';
import { fanOut, nullSink } from './fanout.ts';
import type { RequestSink } from './types.ts';

export interface Sinks {
  sink: RequestSink;
}

/** The sinks the config asks for. File and database writers plug in here. */
export async function createSinks(opts: { config: ProxyConfig; rootDir: string; log: Logger }): Promise<Sinks> {
  const sinks: RequestSink[] = [];
  return { sink: sinks.length ? fanOut(sinks) : nullSink };
}
