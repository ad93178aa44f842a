/**
 * A TCP relay in front of a real server (the test PostgreSQL), switchable to "down": every open
 * connection is cut and new ones are closed as soon as they are accepted, which is what a client
 * sees when the database is stopped or the network drops. Back "up", it relays again.
 */
import { createConnection, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

export interface TcpRelay {
  readonly host: string;
  readonly port: number;
  /** Connections accepted while up. */
  readonly accepted: number;
  setDown(down: boolean): void;
  close(): Promise<void>;
}

export async function startTcpRelay(target: { host: string; port: number }): Promise<TcpRelay> {
  const open = new Set<Socket>();
  let down = false;
  let accepted = 0;

  const server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    accepted++;
    const upstream = createConnection(target);
    open.add(client);
    open.add(upstream);
    const cut = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', cut).on('close', cut);
    upstream.on('error', cut).on('close', cut);
    client.pipe(upstream).pipe(client);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    host: '127.0.0.1',
    port,
    get accepted() {
      return accepted;
    },
    setDown(value) {
      down = value;
      if (down) for (const socket of open) socket.destroy();
    },
    close() {
      down = true;
      for (const socket of open) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
