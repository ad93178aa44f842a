/**
 * `npm run demo`: a local fake OpenAI-compatible upstream plus the proxy wired to it, so a
 * newcomer without API keys can see routing, fallbacks and streaming work.
 *
 *   tsx scripts/demo.ts [--port 7979] [--smoke]
 *
 * `--smoke` sends one plain and one streamed request through the proxy, prints them and exits
 * (used by the test suite to prove the demo works on a fresh clone).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { consoleLogger, type Logger } from '../src/app.ts';
import { loadConfig } from '../src/config/load.ts';
import { createSinks } from '../src/logging/sinks.ts';
import { startProxy } from '../src/server.ts';
import { startFakeUpstream } from '../test/helpers/fake-upstream.ts';

const rootDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const log: Logger = consoleLogger;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: 'string', default: process.env.YALLMP_PORT ?? '7979' }, smoke: { type: 'boolean', default: false } },
  });
  const upstream = await startFakeUpstream({ record: false });
  // A backend that always fails, to show the fallback at work.
  upstream.script('flaky', [{ kind: 'status', status: 503 }]);

  const dir = mkdtempSync(join(tmpdir(), 'yallmp-demo-'));
  const doc = {
    model_list: [
      { model_name: 'demo-gpt', model_params: { api_base: upstream.base('demo'), api_key: 'demo-key', model: 'openai/fake-gpt' } },
      { model_name: 'demo-flaky', model_params: { api_base: upstream.base('flaky'), api_key: 'demo-key' } },
    ],
    router_settings: { num_retries: 1, fallbacks: [{ 'demo-flaky': ['demo-gpt'] }] },
    proxy_settings: {
      server: { host: '127.0.0.1', port: Number(values.port) },
      enable_responses_endpoint: true,
      // The smoke run must not touch the repository's logs/.
      logging: { files: !values.smoke },
    },
    database: { enabled: !values.smoke },
  };
  writeFileSync(join(dir, 'config_default.yaml'), stringify(doc));
  writeFileSync(join(dir, 'config_added.yaml'), stringify({ model_list: [] }));
  const loaded = loadConfig({ defaultPath: join(dir, 'config_default.yaml'), addedPath: join(dir, 'config_added.yaml'), env: {}, rootDir });
  rmSync(dir, { recursive: true, force: true });
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));

  const sinks = await createSinks({ config: loaded.config, rootDir, log });
  const proxy = await startProxy({ config: loaded.config, sink: sinks.sink, log, host: '127.0.0.1', port: values.smoke ? 0 : Number(values.port) });
  const shutdown = async (): Promise<void> => {
    await proxy.close(2000);
    await sinks.sink.close?.();
    await upstream.close();
  };

  if (values.smoke) {
    try {
      await smoke(`${proxy.url}/v1`);
    } finally {
      await shutdown();
    }
    return;
  }

  console.log(`
yaLLMproxy demo
  fake upstream : ${upstream.origin}
  proxy         : ${proxy.url}/v1   (models: demo-gpt, demo-flaky → falls back to demo-gpt)

Try:
  curl -s ${proxy.url}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model":"demo-gpt","messages":[{"role":"user","content":"hi"}]}'
  curl -N ${proxy.url}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model":"demo-flaky","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  curl -s ${proxy.url}/v1/models

Ctrl-C to stop.`);
  const stop = (): void => void shutdown().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

async function smoke(base: string): Promise<void> {
  const post = (body: unknown) =>
    fetch(`${base}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const plain = await post({ model: 'demo-gpt', messages: [{ role: 'user', content: 'hi' }] });
  const json = (await plain.json()) as { choices: Array<{ message: { content: string } }> };
  console.log(`demo-gpt → ${plain.status} ${JSON.stringify(json.choices[0]?.message.content)}`);
  const streamed = await post({ model: 'demo-flaky', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  const text = await streamed.text();
  const events = text.split('\n\n').filter((e) => e.startsWith('data: '));
  console.log(`demo-flaky (stream, fell back) → ${streamed.status}, ${events.length} events, ends with ${JSON.stringify(events.at(-1))}`);
  if (plain.status !== 200 || streamed.status !== 200 || events.at(-1) !== 'data: [DONE]') throw new Error('demo smoke failed');
  console.log('demo smoke ok');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
