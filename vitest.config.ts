import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Starts (or checks) the real PostgreSQL every dialect test needs; never skipped.
    globalSetup: ['test/helpers/pg-global-setup.ts'],
    // Child processes rather than threads: native addons (better-sqlite3) and process-wide state.
    pool: 'forks',
    // Kysely's FileMigrationProvider import()s migrations/*.ts natively, outside Vite's
    // transform; the app runs under tsx, so the test workers load tsx's hooks too (Node 20 has no
    // built-in type stripping).
    execArgv: ['--import', 'tsx'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
