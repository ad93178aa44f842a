import { Pool } from 'undici';
import type { BackendConfig } from '../config/types.ts';
import { parseApiBase, type ParsedBase } from './url.ts';

export interface PoolOptions {
  connectTimeoutMs: number;
  /** Sockets per backend origin (default 4096): every open stream holds one for its whole life. */
  connections?: number;
}

/**
 * One keep-alive undici Pool per backend origin, created on first use. Global fetch builds a
 * Request/Response pair and a web stream per call and is several times slower than Pool.request.
 */
export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();
  /** Parsed api_base per backend object: config snapshots are immutable, so this never goes stale. */
  private readonly bases = new WeakMap<BackendConfig, ParsedBase>();
  private readonly opts: PoolOptions;

  constructor(opts: PoolOptions) {
    this.opts = opts;
  }

  base(backend: BackendConfig): ParsedBase {
    let parsed = this.bases.get(backend);
    if (!parsed) {
      parsed = parseApiBase(backend.apiBase);
      this.bases.set(backend, parsed);
    }
    return parsed;
  }

  get(origin: string): Pool {
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.opts.connections ?? 4_096,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        connect: { timeout: this.opts.connectTimeoutMs },
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((p) => p.destroy()));
  }
}
