import type { Outcome } from './types.ts';

export interface RealtimeSnapshot {
  received: number;
  served: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  ongoing: number;
  started_at: string;
}

/**
 * Process-local request counters for `/api/usage` `realtime`. `served` counts finished requests
 * whatever their outcome; `ongoing` = received − served and so cannot leak: every request is
 * finished exactly once by its RequestRecorder.
 */
export class RealtimeCounters {
  private received = 0;
  private served = 0;
  private succeeded = 0;
  private failed = 0;
  private cancelled = 0;
  private readonly startedAt: string;

  constructor(now: Date = new Date()) {
    this.startedAt = now.toISOString();
  }

  start(): void {
    this.received++;
  }

  finish(outcome: Outcome): void {
    this.served++;
    if (outcome === 'success') this.succeeded++;
    else if (outcome === 'cancelled') this.cancelled++;
    else this.failed++;
  }

  snapshot(): RealtimeSnapshot {
    return {
      received: this.received,
      served: this.served,
      succeeded: this.succeeded,
      failed: this.failed,
      cancelled: this.cancelled,
      ongoing: this.received - this.served,
      started_at: this.startedAt,
    };
  }
}
