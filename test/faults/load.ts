/**
 * Closed-loop load for the fault tests: `concurrency` workers send tagged chat completions
 * (`messages[0].content = "n<i>"`) through one undici Agent until `stop()`, recording for every
 * request whether and when a complete response arrived. Not a test file (no `.test.ts`).
 */
import { Agent, request } from 'undici';

export interface Outcome {
  readonly tag: string;
  readonly stream: boolean;
  /** 0 when no response (connection refused / reset). */
  status: number;
  /** `x-request-id` of the response. */
  id: string | null;
  body: string;
  /** Date.now() when the whole body had arrived; null when it did not. */
  doneAt: number | null;
  error: string | null;
}

export interface Load {
  readonly outcomes: Outcome[];
  /** Responses complete so far. */
  completed(): number;
  /** No new requests after this; resolves when every worker has finished its last one. */
  stop(): Promise<void>;
  /** Resolves when `n` requests were sent in total and all of them settled. */
  readonly finished: Promise<void>;
}

export interface LoadOptions {
  url: string;
  concurrency: number;
  /** Stop after this many requests (default: until stop()). */
  total?: number;
  /** Every other request streams when true. */
  mixStreams?: boolean;
  model?: string;
  /** Tags are `${tagPrefix}${i}` (default 'n'); distinct prefixes keep two loads apart. */
  tagPrefix?: string;
  /** Fresh connection per request (default false: keep-alive). */
  noKeepAlive?: boolean;
}

export function startLoad(opts: LoadOptions): Load {
  const dispatcher = new Agent({
    connections: opts.concurrency,
    ...(opts.noKeepAlive ? { pipelining: 0 } : {}),
    headersTimeout: 60_000,
    bodyTimeout: 60_000,
  });
  const outcomes: Outcome[] = [];
  let next = 0;
  let stopped = false;
  let completed = 0;

  const one = async (): Promise<void> => {
    const i = next++;
    const stream = opts.mixStreams === true && i % 2 === 1;
    const o: Outcome = { tag: `${opts.tagPrefix ?? 'n'}${i}`, stream, status: 0, id: null, body: '', doneAt: null, error: null };
    outcomes.push(o);
    try {
      const res = await request(`${opts.url}/v1/chat/completions`, {
        method: 'POST',
        dispatcher,
        headers: { 'content-type': 'application/json', ...(opts.noKeepAlive ? { connection: 'close' } : {}) },
        body: JSON.stringify({ model: opts.model ?? 'm', stream, messages: [{ role: 'user', content: o.tag }] }),
      });
      o.status = res.statusCode;
      o.id = String(res.headers['x-request-id'] ?? '') || null;
      o.body = await res.body.text();
      o.doneAt = Date.now();
      completed++;
    } catch (err) {
      o.error = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    }
  };

  const worker = async (): Promise<void> => {
    while (!stopped && (opts.total === undefined || next < opts.total)) await one();
  };
  const finished = Promise.all(Array.from({ length: opts.concurrency }, worker)).then(() => dispatcher.close());

  return {
    outcomes,
    completed: () => completed,
    stop: async () => {
      stopped = true;
      await finished;
    },
    finished,
  };
}
