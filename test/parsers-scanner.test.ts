import { describe, expect, it } from 'vitest';
import { TagScanner, type ScanOutput } from '../src/parsers/scanner.ts';
import { parseToolBlock, toToolCall } from '../src/parsers/tool-call.ts';

const scanner = (opts: Partial<ConstructorParameters<typeof TagScanner>[0]> = {}) =>
  new TagScanner({ thinkTag: 'think', toolTag: 'tool_call', maxHeldChars: 1000, ...opts });

const out = (content: string, reasoning = '', tools: ScanOutput['tools'] = []): ScanOutput => ({ content, reasoning, tools });

describe('TagScanner', () => {
  it('holds back exactly a possible partial tag, and nothing else', () => {
    const s = scanner();
    expect(s.feed('Hello <')).toEqual(out('Hello '));
    expect(s.feed('th')).toEqual(out(''));
    expect(s.feed('ink>ab')).toEqual(out('', 'ab'));
    expect(s.feed('c</thi')).toEqual(out('', 'c'));
    expect(s.feed('nk> ok <b>')).toEqual(out(' ok <b>'));
    expect(s.idle).toBe(true);
    expect(s.finish()).toEqual(out(''));
  });

  it('streams reasoning as it comes and parses a tool block only when it closes', () => {
    const s = scanner();
    expect(s.feed('<think>one ')).toEqual(out('', 'one '));
    expect(s.feed('two</think><tool_call>get<arg_key>k</arg_key>')).toEqual(out('', 'two'));
    expect(s.idle).toBe(false);
    expect(s.feed('<arg_value>[1,2]</arg_value></tool_call>!')).toEqual(
      out('!', '', [{ name: 'get', arguments: { k: [1, 2] } }]),
    );
  });

  it('moves only the first think block; later ones are content', () => {
    const s = scanner();
    expect(s.feed('<think>a</think>b<think>c</think>')).toEqual(out('b<think>c</think>', 'a'));
  });

  it('flushes what an unfinished block held at the end: reasoning stays reasoning, a tool block becomes text', () => {
    const think = scanner();
    think.feed('<think>cut');
    think.feed(' off</thi');
    expect(think.finish()).toEqual(out('', '</thi'));
    const tool = scanner();
    expect(tool.feed('x <tool_call>f<arg_key>a</arg')).toEqual(out('x '));
    expect(tool.finish()).toEqual(out('<tool_call>f<arg_key>a</arg'));
  });

  it('holds leading whitespace until content starts and drops it if content never does', () => {
    const s = scanner();
    expect(s.feed('\n\n')).toEqual(out(''));
    expect(s.feed('<think>r</think>\n')).toEqual(out('', 'r'));
    expect(s.feed(' Hi')).toEqual(out('\n\n\n Hi'));
    const blank = scanner();
    blank.feed('<tool_call>f</tool_call>\n');
    expect(blank.finish()).toEqual(out(''));
  });

  it('lets leading whitespace through once it passes max_held_chars', () => {
    const s = scanner({ maxHeldChars: 4 });
    expect(s.feed('  ')).toEqual(out(''));
    expect(s.feed('   ')).toEqual(out('     '));
    expect(s.feed(' ')).toEqual(out(' '));
  });

  it('a tool block longer than max_held_chars is text from the open tag to that length, then scanning resumes', () => {
    const s = scanner({ maxHeldChars: 5 });
    expect(s.feed('<tool_call>abc')).toEqual(out(''));
    expect(s.feed('defg<tool_call>h</tool_call>')).toEqual(
      out('<tool_call>abcdefg', '', [{ name: 'h', arguments: {} }]),
    );
  });

  it('leaves tags alone when switched off or when the upstream already sent structured fields', () => {
    const s = scanner({ thinkTag: null });
    expect(s.feed('<think>x</think>')).toEqual(out('<think>x</think>'));
    const t = scanner();
    t.disableThinking();
    t.disableToolCalls();
    expect(t.feed('<think>x</think><tool_call>f</tool_call>')).toEqual(out('<think>x</think><tool_call>f</tool_call>'));
  });

  it('keeps a block without a name as text', () => {
    expect(scanner().feed('a<tool_call>  </tool_call>b')).toEqual(out('a<tool_call>  </tool_call>b'));
  });

  it('custom tags', () => {
    const s = scanner({ thinkTag: 'reasoning', toolTag: 'call' });
    expect(s.feed('<reasoning>r</reasoning><call>f</call><think>t</think>')).toEqual(
      out('<think>t</think>', 'r', [{ name: 'f', arguments: {} }]),
    );
  });
});

describe('tool call blocks', () => {
  it('GLM style: name, then key/value pairs; values JSON-decoded when they parse', () => {
    expect(parseToolBlock('\nsearch\n<arg_key>q</arg_key>\n<arg_value>tea time</arg_value>\n<arg_key>n</arg_key><arg_value>3</arg_value>\n<arg_key>o</arg_key><arg_value>{"a":true}</arg_value>')).toEqual({
      name: 'search',
      arguments: { q: 'tea time', n: 3, o: { a: true } },
    });
  });

  it('no arguments: the first word is the name; JSON objects (Hermes style) with string or object arguments', () => {
    expect(parseToolBlock(' list_files now ')).toEqual({ name: 'list_files', arguments: {} });
    expect(parseToolBlock('{"name":"f","arguments":{"x":1}}')).toEqual({ name: 'f', arguments: { x: 1 } });
    expect(parseToolBlock('{"name":"f","arguments":"{\\"x\\":2}"}')).toEqual({ name: 'f', arguments: { x: 2 } });
    expect(parseToolBlock('  ')).toBeNull();
    expect(parseToolBlock('<arg_key>k</arg_key><arg_value>v</arg_value>')).toBeNull();
  });

  it('OpenAI tool call: ids per choice and position, arguments as a JSON string', () => {
    expect(toToolCall({ name: 'f', arguments: { city: 'Zürich' } }, 2, 1)).toEqual({
      id: 'call_2_1',
      type: 'function',
      function: { name: 'f', arguments: '{"city":"Zürich"}' },
      index: 1,
    });
  });
});
