/**
 * The writer's recovery loop: while the database is down (or was never prepared), or the spool
 * holds rows, it retries with exponential backoff — run `prepare` (migrations) until it succeeds,
 * probe the database, then replay the spool (replay.ts). Its timer is unref'd: recovery alone
 * never keeps a finished process alive.
 */
import type { Logger } from '../app.ts';
import { replaySpool } from './replay.ts';
import type { Spool } from './spool.ts';

export interface RecoveryDeps {
  readonly spool: Spool;
  readonly log: Logger;
  readonly batchSize: number;
  readonly retry: { readonly minMs: number; readonly maxMs: number };
  readonly prepare?: () => Promise<void>;
  /** Live writer state: read for `dbUp`, set to true when a probe succeeds. */
  readonly state: { dbUp: boolean; replayed: number };
  /** Serialised with the writer's other store calls. */
  probe(): Promise<void>;
  /** Spool lines (records as JSON text) in one transaction. */
  insert(lines: readonly string[]): Promise<number>;
  onRejected(line: string, reason: unknown): Promise<void>;
  onFailure(err: unknown): void;
  /** Shutdown: no new attempts, and a replay stops at the next batch. */
  stopping(): boolean;
}

export interface Recovery {
  /** Arms the timer unless it is armed or running; default delay from the backoff state. */
  schedule(delayMs?: number): void;
  /** Disarms the timer and waits for a running attempt to stop. */
  stop(): Promise<void>;
}

export function createRecovery(d: RecoveryDeps): Recovery {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let backoff = d.retry.minMs;
  let prepared = !d.prepare;

  const attempt = async (): Promise<void> => {
    try {
      if (!prepared) {
        await d.prepare?.();
        prepared = true;
      }
      if (!d.state.dbUp) {
        await d.probe();
        d.state.dbUp = true;
        d.log.info('database log: database reachable again, replaying the spool');
      }
      await replaySpool({
        spool: d.spool,
        batchSize: d.batchSize,
        insert: d.insert,
        probe: d.probe,
        stopped: d.stopping,
        onReplayed: (n) => void (d.state.replayed += n),
        onRejected: d.onRejected,
      });
      backoff = d.retry.minMs;
    } catch (err) {
      d.onFailure(err);
      backoff = Math.min(backoff * 2, d.retry.maxMs);
    }
  };

  function schedule(delayMs = d.state.dbUp ? d.retry.minMs : backoff): void {
    if (d.stopping() || timer || running) return;
    timer = setTimeout(() => {
      timer = null;
      running = attempt().finally(() => {
        running = null;
        if (!d.state.dbUp || !prepared || d.spool.hasData()) schedule();
      });
    }, delayMs);
    timer.unref();
  }

  return {
    schedule,
    async stop() {
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
  };
}
