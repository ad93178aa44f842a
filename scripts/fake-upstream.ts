/**
 * Standalone fake OpenAI-compatible upstream, for `npm run demo`, benchmarks and poking at the
 * proxy by hand:
 *
 *   tsx scripts/fake-upstream.ts [--port 0] [--host 127.0.0.1] [--delay-ms N]
 *
 * Every path answers with the `ok` behaviour (JSON or SSE depending on the request's `stream`);
 * `--delay-ms` delays each stream chunk (and non-stream answers) by N ms.
 */
import { parseArgs } from 'node:util';
import { startFakeUpstream } from '../test/helpers/fake-upstream.ts';

function toInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      'delay-ms': { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write('usage: tsx scripts/fake-upstream.ts [--port 0] [--host 127.0.0.1] [--delay-ms N]\n');
    return;
  }
  const delayMs = toInt('delay-ms', values['delay-ms']);
  const upstream = await startFakeUpstream({
    host: values.host,
    port: toInt('port', values.port),
    // Nobody can read the records of a standalone server; keeping them would only leak memory
    // over a long benchmark.
    record: false,
    defaultBehaviour: { kind: 'ok', delayMs },
  });
  process.stdout.write(`fake upstream listening on ${upstream.origin}\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`fake upstream: ${signal}, closing\n`);
    upstream.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`fake upstream: close failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`fake upstream: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
