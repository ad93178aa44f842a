import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { EventShape } from '../src/parsers/shape.ts';
import { createParserStream } from '../src/parsers/config.ts';
import { parsersFrom } from './fixtures/parsers/corpus.ts';

// EventShape on its own: what it takes as "the same event with another token", and what not.
// The differential tests in parsers-corpus.test.ts hold it against the full SSE path.

const ENV = '"id":"c","object":"chat.completion.chunk","created":1,"model":"m"';
const data = (text: string, key = 'content', finish = 'null') => `{${ENV},"choices":[{"index":0,"delta":{"${key}":"${text}"},"finish_reason":${finish}}]}`;
const chunk = (d: string) => Buffer.from(`data: ${d}\n\n`, 'utf8');
const latin1 = (c: Buffer) => c.toString('latin1', 6, c.byteLength - 2);

function learned(text = ' a', fast?: (d: string) => string): EventShape {
  const c = chunk(data(text));
  const d = latin1(c);
  const shape = EventShape.learn(c, d, fast ? fast(d) : d, 0);
  expect(shape).not.toBeNull();
  return shape!;
}

describe('EventShape', () => {
  it('takes a chunk that differs in its text only, as the same bytes', () => {
    const shape = learned();
    const c = chunk(data(' 思考 and more'));
    expect(shape.apply(c)).toBe(c);
    expect(shape.events).toBe(1);
  });

  it('refuses a text that is empty, holds a quote, an escape, a `<` or a control byte, or spells a key', () => {
    const shape = learned();
    for (const text of ['', 'a\\"b', 'a\\nb', '<think>', 'x<', 'tab\tbed', 'line\nbreak', 'content', 'tool_calls', 'finish_reason']) {
      expect(shape.apply(chunk(data(text))), JSON.stringify(text)).toBeNull();
    }
    // Not a key: a capital, a digit or a space is enough.
    for (const text of ['Content', 'tool_calls2', ' content']) expect(shape.apply(chunk(data(text))), text).not.toBeNull();
  });

  it('refuses another head or tail, even of the same length', () => {
    const shape = learned();
    expect(shape.apply(chunk(data(' a').replace('"created":1', '"created":2')))).toBeNull();
    expect(shape.apply(chunk(data(' a', 'content', '"ok"')))).toBeNull(); // `"ok"` is as long as `null`
    expect(shape.apply(chunk(data(' a', 'reasoning_content')))).toBeNull();
  });

  it('takes several whole events of the shape in one chunk, and no partial one', () => {
    const shape = learned();
    const two = Buffer.concat([chunk(data(' a')), chunk(data(' bc'))]);
    expect(shape.apply(two)).toBe(two);
    expect(shape.events).toBe(2);
    expect(shape.starts.slice(0, 2)).toEqual([0, chunk(data(' a')).byteLength]);
    expect(shape.apply(two.subarray(0, two.byteLength - 1))).toBeNull();
    expect(shape.apply(Buffer.concat([two, chunk(data('<'))]))).toBeNull();
  });

  it('renames the head of each event when the verdict was a rename, and keeps every other byte', () => {
    const shape = learned(' a', (d) => d.replace('"content":"', '"reasoning_content":"'));
    const two = Buffer.concat([chunk(data(' 思考')), chunk(data(' b'))]);
    expect(Buffer.from(shape.apply(two)!).toString('utf8')).toBe(`data: ${data(' 思考', 'reasoning_content')}\n\ndata: ${data(' b', 'reasoning_content')}\n\n`);
  });

  it('learns nothing from a chunk without a plain text, or from a verdict that changed more than the head', () => {
    for (const d of [data(''), data('a\\nb'), data('<think>'), `{${ENV},"choices":[]}`]) {
      const c = chunk(d);
      expect(EventShape.learn(c, latin1(c), latin1(c), 0), d).toBeNull();
    }
    const c = chunk(data(' a'));
    const d = latin1(c);
    expect(EventShape.learn(c, d, d.replace('"finish_reason"', '"finish"'), 0)).toBeNull();
  });
});

describe('ParserStream with shapes', () => {
  const enc = (s: string) => Buffer.from(s, 'utf8');
  const ENV2 = ENV.replace('"created":1', '"created":2');
  const ev = (delta: string, env = ENV) => `data: {${env},"choices":[{"index":0,"delta":${delta},"finish_reason":null}]}\n\n`;

  it('ends a stream with the envelope of the last event of a chunk of several', () => {
    // reasoning_to_content: the close tag goes out at the end, in a chunk with the last envelope.
    const s = createParserStream(parsersFrom({ response: ['swap_reasoning_content'], swap_reasoning_content: { mode: 'reasoning_to_content' } }), null);
    s.push(enc(ev('{"role":"assistant","content":""}')));
    s.push(enc(ev('{"reasoning_content":" a"}')));
    s.push(enc(ev('{"reasoning_content":" b"}', ENV2)));
    // Two events of the shape learned from the last chunk, in one chunk: both renamed.
    const out = s.push(enc(ev('{"reasoning_content":" c"}', ENV2) + ev('{"reasoning_content":" d"}', ENV2)));
    expect(Buffer.from(out!).toString()).toBe(ev('{"content":" c"}', ENV2) + ev('{"content":" d"}', ENV2));
    // The close tag goes out in the envelope of the last event the client got: the second one's.
    expect(Buffer.from(s.end()!).toString()).toBe(
      `data: {${ENV2},"choices":[{"index":0,"delta":{"content":"</think>"},"finish_reason":null}]}\n\n`,
    );
  });
});
