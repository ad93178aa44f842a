import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type LoadResult } from '../src/config/load.ts';
import type { ParsersConfig, ProxyConfig } from '../src/config/types.ts';
import { parsersFor } from '../src/parsers/config.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function load(yaml: string): LoadResult {
  const dir = mkdtempSync(join(tmpdir(), 'yallmp-parsers-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'config_default.yaml'), yaml);
  writeFileSync(join(dir, 'config_added.yaml'), 'model_list: []\n');
  return loadConfig({ defaultPath: 'config_default.yaml', addedPath: 'config_added.yaml', env: {}, rootDir: dir });
}

function ok(yaml: string): ProxyConfig {
  const r = load(yaml);
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.config;
}

const DEFAULT_PU = { parseThinking: true, parseToolCalls: true, thinkTag: 'think', toolTag: 'tool_call' };
const DEFAULT_SWAP = {
  mode: 'reasoning_to_content',
  thinkTag: 'think',
  thinkOpen: { prefix: '', suffix: '' },
  thinkClose: { prefix: '', suffix: '' },
  includeNewline: true,
};

const models = `model_list:
  - {model_name: plain, model_params: {api_base: "http://a.test/v1"}}
  - model_name: own
    model_params: {api_base: "http://b.test/v1"}
    parsers: {response: [swap_reasoning], swap_reasoning: {mode: to_reasoning, think_open: "<<", think_close: {suffix: "\\n"}}}
  - model_name: nested
    model_params: {api_base: "http://c.test/v1", parsers: {response: parse_tags, paths: [/v1/completions]}}
  - model_name: off
    model_params: {api_base: "http://d.test/v1"}
    parsers: {enabled: "no", response: [parse_unparsed]}
`;

describe('parser configuration', () => {
  it('a config without parsers carries nothing and no backend gets any', () => {
    const config = ok('model_list:\n  - {model_name: plain, model_params: {api_base: "http://a.test/v1"}}\n');
    expect(config.parsing).toBeUndefined();
    expect(parsersFor(config, config.backends.get('plain')!, '/v1/chat/completions')).toBeNull();
  });

  it('global block: enabled false by default, aliases to canonical names, parse_unparsed first, default options', () => {
    const config = ok(`${models}proxy_settings:
  logging: {log_parsed_response: true}
  parsers:
    response: [swap_reasoning_content, parse_tags, parse_unparsed]
    parse_tags: {think_tag: reasoning, parse_tool_calls: "false"}
`);
    const global: ParsersConfig = {
      enabled: false,
      response: ['parse_unparsed', 'swap_reasoning_content'],
      paths: ['/chat/completions'],
      maxHeldChars: 65_536,
      parseUnparsed: { ...DEFAULT_PU, thinkTag: 'reasoning', parseToolCalls: false },
      swapReasoning: DEFAULT_SWAP as ParsersConfig['swapReasoning'],
    };
    expect(config.parsing).toEqual({ global, logParsedResponse: true, logParsedStream: true });
    // Disabled globally: a model without its own block gets nothing.
    expect(parsersFor(config, config.backends.get('plain')!, '/v1/chat/completions')).toBeNull();
  });

  it("a model's block replaces the global one, enabled by default; model_params.parsers is read too", () => {
    const config = ok(`${models}proxy_settings:
  logging: {log_parsed_response: true, log_parsed_stream: false}
  parsers: {enabled: true, response: [parse_unparsed], paths: []}
`);
    expect(config.parsing).toMatchObject({ logParsedResponse: true, logParsedStream: false });
    const path = '/v1/chat/completions';
    expect(parsersFor(config, config.backends.get('plain')!, path)?.response).toEqual(['parse_unparsed']);
    expect(parsersFor(config, config.backends.get('plain')!, '/v1/embeddings')?.response).toEqual(['parse_unparsed']);
    expect(parsersFor(config, config.backends.get('own')!, path)).toEqual({
      enabled: true,
      response: ['swap_reasoning_content'],
      paths: ['/chat/completions'],
      maxHeldChars: 65_536,
      parseUnparsed: DEFAULT_PU,
      swapReasoning: { ...DEFAULT_SWAP, mode: 'content_to_reasoning', thinkOpen: { prefix: '<<', suffix: '' }, thinkClose: { prefix: '', suffix: '\n' } },
    });
    // Its paths filter by substring of the request path.
    expect(parsersFor(config, config.backends.get('nested')!, path)).toBeNull();
    expect(parsersFor(config, config.backends.get('nested')!, '/v1/completions')?.response).toEqual(['parse_unparsed']);
    // A model that switches parsing off does not fall back to the global block.
    expect(parsersFor(config, config.backends.get('off')!, path)).toBeNull();
  });

  it('unknown parser names and modes are errors with file and dot-path', () => {
    const r = load(`model_list:
  - model_name: m
    model_params: {api_base: "http://a.test/v1"}
    parsers: {response: [parse_unparsed, reasoning_magic]}
proxy_settings:
  parsers: {response: [swap_reasoning], swap_reasoning: {mode: sideways}, parse_tags: {think_tag: "a b"}}
`);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([
      'config_default.yaml: proxy_settings.parsers.parse_tags.think_tag: Invalid tag name "a b" (1-64 characters, no <, > or spaces)',
      'config_default.yaml: proxy_settings.parsers.swap_reasoning.mode: Unknown mode "sideways" (expected reasoning_to_content, content_to_reasoning or auto)',
      'config_default.yaml: model_list.0.parsers.response.1: Unknown response parser "reasoning_magic" (expected one of parse_unparsed, parse_unparsed_tags, parse_tags, swap_reasoning_content, swap_reasoning)',
    ]);
  });
});
