import type { BackendConfig, ParsersConfig, ProxyConfig } from '../config/types.ts';
import { rewriteCompletion } from './body.ts';
import { ParseUnparsedStage } from './parse-unparsed.ts';
import { isObj, Pipeline, type Stage } from './pipeline.ts';
import { SwapReasoningStage } from './swap.ts';
import { ParserStream, type ParserStreamOptions } from './stream.ts';

/**
 * The parsers that apply to one backend's answer to one request path, or null. A model's own
 * `parsers` replace the global ones (fallback backends use theirs); paths are substrings.
 */
export function parsersFor(config: ProxyConfig, backend: BackendConfig, path: string): ParsersConfig | null {
  const p = backend.parsers ?? config.parsing?.global ?? null;
  if (p === null || !p.enabled || p.response.length === 0) return null;
  if (p.paths.length > 0 && !p.paths.some((part) => path.includes(part))) return null;
  return p;
}

/** Fresh per response: stages keep per-choice state. */
export function createPipeline(p: ParsersConfig): Pipeline {
  const stages: Stage[] = p.response.map((name) =>
    name === 'parse_unparsed'
      ? new ParseUnparsedStage(p.parseUnparsed, p.maxHeldChars)
      : new SwapReasoningStage(p.swapReasoning, p.maxHeldChars),
  );
  return new Pipeline(stages);
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A non-stream JSON body rewritten, or null when it is not a JSON object with choices. */
export function rewriteBody(p: ParsersConfig, body: Uint8Array): Uint8Array | null {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(body));
  } catch {
    return null;
  }
  if (!isObj(json) || !rewriteCompletion(createPipeline(p), json)) return null;
  return encoder.encode(JSON.stringify(json));
}

export function createParserStream(
  p: ParsersConfig,
  capture: { maxChunks: number; maxBytes: number } | null,
  inspector?: ParserStreamOptions['inspector'],
): ParserStream {
  return new ParserStream({ pipeline: createPipeline(p), capture, inspector });
}
