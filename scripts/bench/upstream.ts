/**
 * Benchmark child: the fake upstream in its own process (so it never competes with the server
 * under test for an event loop). Same server as `scripts/fake-upstream.ts`, wrapped in the
 * benchmark's child protocol (announce line, graceful stop, parent-death guard).
 *
 *   node --import tsx scripts/bench/upstream.ts [--host 127.0.0.1]
 */
import { startFakeUpstream } from '../../test/helpers/fake-upstream.ts';
import { argValue, runChild, serveUntilStopped } from './child.ts';

runChild('bench upstream', async () => {
  const upstream = await startFakeUpstream({
    host: argValue('host', '127.0.0.1'),
    port: 0,
    // Recording every request would grow memory (and GC time) through the run.
    record: false,
  });
  serveUntilStopped('fake upstream', upstream.origin, upstream);
});
