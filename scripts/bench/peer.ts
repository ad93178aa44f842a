/**
 * The peer gateway (Portkey AI gateway, `@portkey-ai/gateway` from npm): a bench-only
 * dependency, installed on demand into `.bench/peer/` (gitignored), never into the product's
 * node_modules. Routed to the fake upstream per request with `x-portkey-provider: openai` and
 * `x-portkey-custom-host: <upstream>/<prefix>/v1`.
 *
 * `@hono/node-server` is pinned to 1.13.5 through npm `overrides`: 1.15.2 declares `^1.3.3`,
 * and with the 1.14.x/1.19.x that resolves to, every streaming chat completion fails on Node
 * with `TypeError: immutable` (node-server's Response reuses the fetch response's immutable
 * Headers, which the gateway then appends to; Portkey-AI/gateway#1389, #1550). 1.13.5 is the
 * version the gateway's own repository patches (`patches/@hono+node-server+1.13.5.patch`).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startExternal, type ServerChild } from './processes.ts';

export const PEER_PACKAGE = '@portkey-ai/gateway';
export const PEER_VERSION = '1.15.2';
const NODE_SERVER_PIN = '1.13.5';

export interface PeerInstall {
  dir: string;
  version: string;
  /** node-server version actually installed (what the override resolved to). */
  nodeServer: string;
}

export function peerDir(root: string): string {
  return join(root, '.bench', 'peer');
}

function installedVersion(dir: string, pkg: string): string | null {
  try {
    const json = JSON.parse(readFileSync(join(dir, 'node_modules', pkg, 'package.json'), 'utf8')) as { version?: unknown };
    return typeof json.version === 'string' ? json.version : null;
  } catch {
    return null;
  }
}

/** Installs the pinned peer into `.bench/peer/` unless it is there already. */
export async function ensurePeer(root: string, log: (m: string) => void): Promise<PeerInstall> {
  const dir = peerDir(root);
  const manifest = {
    name: 'yallmp-bench-peer',
    private: true,
    description: 'Bench-only peer gateway for scripts/bench.ts; not a product dependency.',
    dependencies: { [PEER_PACKAGE]: PEER_VERSION },
    overrides: { '@hono/node-server': NODE_SERVER_PIN },
  };
  const wanted = JSON.stringify(manifest, null, 2) + '\n';
  const manifestPath = join(dir, 'package.json');
  const current = existsSync(manifestPath) ? readFileSync(manifestPath, 'utf8') : null;
  if (
    current === wanted &&
    installedVersion(dir, PEER_PACKAGE) === PEER_VERSION &&
    installedVersion(dir, '@hono/node-server') === NODE_SERVER_PIN
  ) {
    return { dir, version: PEER_VERSION, nodeServer: NODE_SERVER_PIN };
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(manifestPath, wanted);
  log(`installing ${PEER_PACKAGE}@${PEER_VERSION} into ${dir}`);
  await new Promise<void>((resolve, reject) => {
    execFile(
      'npm',
      ['install', '--prefix', dir, '--no-audit', '--no-fund', '--loglevel=error'],
      { cwd: dir, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
      (err, _stdout, stderr) => (err ? reject(new Error(`npm install failed: ${err.message}\n${stderr}`)) : resolve()),
    );
  });
  const version = installedVersion(dir, PEER_PACKAGE);
  if (version === null) throw new Error(`${PEER_PACKAGE} not found after npm install`);
  return { dir, version, nodeServer: installedVersion(dir, '@hono/node-server') ?? 'unknown' };
}

/** `node build/start-server.js --headless --port=N`, the way the gateway's README runs it. */
export function startPeer(install: PeerInstall): Promise<ServerChild> {
  return startExternal({
    name: 'Portkey gateway',
    command: process.execPath,
    args: ['build/start-server.js', '--headless', '--port={port}'],
    cwd: join(install.dir, 'node_modules', PEER_PACKAGE),
  });
}

/** Request headers that route the peer to `upstreamBase` (`http://…/<prefix>/v1`) as an OpenAI backend. */
export function peerHeaders(upstreamBase: string): Record<string, string> {
  return { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': upstreamBase };
}
