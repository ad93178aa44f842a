/**
 * Benchmark child: the fake upstream in its own process (so it never competes with the server
 * under test for an event loop). Same server as `scripts/fake-upstream.ts`, wrapped in the
 * benchmark's child protocol (announce line, graceful stop, parent-death guard), with two
 * scripted prefixes for the streaming scenarios (see `protocol.ts`):
 *
 *  - `stream50/v1`: 50 SSE events, the first at once and then one every 10 ms (~490 ms a stream);
 *  - `slow/v1`: one SSE event a second for 10 minutes — the streams the hold scenario keeps open.
 *
 * Every other prefix (`bench/v1`) answers with the fake upstream's `ok`.
 *
 *   node --import tsx scripts/bench/upstream.ts [--host 127.0.0.1]
 */
import { startFakeUpstream } from '../../test/helpers/fake-upstream.ts';
import { argValue, runChild, serveUntilStopped } from './child.ts';
import { BENCH_MODEL, SLOW_EVENTS, SLOW_GAP_MS, SLOW_PREFIX, STREAM_EVENTS, STREAM_GAP_MS, STREAM_PREFIX } from './protocol.ts';

runChild('bench upstream', async () => {
  const upstream = await startFakeUpstream({
    host: argValue('host', '127.0.0.1'),
    port: 0,
    // Recording every request would grow memory (and GC time) through the run.
    record: false,
  });
  upstream.script(STREAM_PREFIX, [{ kind: 'stream', events: chatEvents('s', STREAM_EVENTS), delayMs: STREAM_GAP_MS }]);
  upstream.script(SLOW_PREFIX, [{ kind: 'stream', events: chatEvents('h', SLOW_EVENTS), delayMs: SLOW_GAP_MS }]);
  serveUntilStopped('fake upstream', upstream.origin, upstream);
});

/**
 * `total` OpenAI chat-completion SSE events: a role delta, content deltas, a finish chunk, a
 * usage chunk and `[DONE]` — what a real provider sends with `stream_options.include_usage`.
 */
function chatEvents(tag: string, total: number): string[] {
  const created = Math.floor(Date.now() / 1000);
  const chunk = (extra: object): string =>
    `data: ${JSON.stringify({ id: `chatcmpl-bench-${tag}`, object: 'chat.completion.chunk', created, model: BENCH_MODEL, ...extra })}\n\n`;
  const events = [chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] })];
  for (let i = 0; i < total - 4; i++) {
    events.push(chunk({ choices: [{ index: 0, delta: { content: ` tok${i}` }, finish_reason: null }] }));
  }
  events.push(chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }));
  events.push(chunk({ choices: [], usage: { prompt_tokens: 12, completion_tokens: total - 4, total_tokens: total + 8 } }));
  events.push('data: [DONE]\n\n');
  return events;
}
