/**
 * Starting a contender for one row: a fresh server child (none for `direct`) pointed at the
 * scenario's fake-upstream prefix, and the URL + headers a client sends to it.
 */
import { join } from 'node:path';
import { startPeer, peerHeaders, type PeerInstall } from './peer.ts';
import { BENCH_DATABASE, databaseUrl, recreateDatabase } from './pg.ts';
import { startChild, type ServerChild } from './processes.ts';
import type { Row } from './plan.ts';

export const CLIENT_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json',
  authorization: 'Bearer sk-bench-client',
};

export interface TargetEnv {
  root: string;
  upstreamOrigin: string;
  /** null when the peer could not be installed (its rows then report why). */
  peer: PeerInstall | null;
  peerError: string | null;
  pgServer: string;
  /** `.cpuprofile` directory of this run, or null. */
  profileDir: string | null;
  /** Proxy children put their config, logs and database in a fresh directory under this one. */
  workDir: string;
}

export interface Target {
  url: string;
  headers: Record<string, string>;
  child: ServerChild | null;
}

export async function startTarget(row: Row, env: TargetEnv): Promise<Target> {
  const upstreamBase = `${env.upstreamOrigin}/${row.scenario.prefix}/v1`;
  const c = row.contender;
  if (c.kind === 'direct') return { url: `${upstreamBase}/chat/completions`, headers: { ...CLIENT_HEADERS }, child: null };
  if (c.kind === 'peer') {
    if (env.peer === null) throw new Error(`peer not available: ${env.peerError ?? 'not installed'}`);
    const child = await startPeer(env.peer);
    return {
      url: `${child.url}/v1/chat/completions`,
      // The peer forwards the client's Authorization as the provider key.
      headers: { ...CLIENT_HEADERS, ...peerHeaders(upstreamBase) },
      child,
    };
  }
  // A directory per row and node's default file names: tsx's loader thread writes a profile
  // of its own, and a fixed --cpu-prof-name would let it overwrite the main thread's.
  const nodeArgs = env.profileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(env.profileDir, row.id.replace('/', '_'))}`];
  let child: ServerChild;
  if (c.kind === 'bare') {
    child = await startChild({ name: 'bare pass-through', script: 'scripts/bench/bare-passthrough.ts', args: ['--upstream', upstreamBase], nodeArgs, cwd: env.root });
  } else {
    const args = ['--upstream', upstreamBase, '--sink', c.sink ?? 'none', '--work-dir', env.workDir];
    if (c.sink === 'postgres') {
      await recreateDatabase(env.pgServer, BENCH_DATABASE);
      args.push('--pg-url', databaseUrl(env.pgServer, BENCH_DATABASE));
    }
    child = await startChild({ name: 'yaLLMproxy', script: 'scripts/bench/proxy-server.ts', args, nodeArgs, cwd: env.root });
  }
  return { url: `${child.url}/v1/chat/completions`, headers: { ...CLIENT_HEADERS }, child };
}
