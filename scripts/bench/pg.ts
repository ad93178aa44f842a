/**
 * The PostgreSQL database of the `files + PostgreSQL` contender: dropped and created empty before
 * each such row, so every row starts from the same state and a run leaves at most one database.
 */
import pg from 'pg';

export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432';
export const BENCH_DATABASE = 'yallmp_bench_proxy';

/** `server` with `database` as its path. */
export function databaseUrl(server: string, database: string): string {
  const url = new URL(server);
  url.pathname = `/${database}`;
  return url.toString();
}

/** DROP (forcing out leftover sessions) + CREATE; throws when the server cannot be reached. */
export async function recreateDatabase(server: string, database: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error(`unsafe database name ${database}`);
  const client = new pg.Client({ connectionString: databaseUrl(server, 'postgres'), connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${database}`);
  } finally {
    await client.end();
  }
}
