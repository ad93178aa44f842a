import type { ParseUnparsedOptions } from '../config/types.ts';
import {
  appendReasoning, choiceIndex, isAssistant, isObj, isText, onlyEmptyValues, renameKey, setContent, valueAt,
  type ChoiceDelta, type Json, type Stage,
} from './pipeline.ts';
import { BACKSLASH, CLOSE_BRACE, QUOTE } from '../sse/bytes.ts';
import { includesQuoted, indexOfQuoted } from '../sse/text-search.ts';
import { TagScanner, type ScanOutput } from './scanner.ts';
import { toToolCall } from './tool-call.ts';

/**
 * The data may hold structured reasoning or tool calls: either switches the matching tag off for
 * its choice (`choice`), so such an event is the slow path's even when it changes nothing itself.
 */
function mayHaveStructured(data: string): boolean {
  return includesQuoted(data, 'reasoning_content"') || includesQuoted(data, 'tool_calls"');
}

/**
 * Before any choice has state: the event gives none either (`choice` starts one at the first
 * non-empty content, reasoning or tool calls), so it passes as it came. The role chunk that opens
 * most streams, `"content":""`, is one.
 */
function noTextYet(data: string): boolean {
  return !mayHaveStructured(data) && onlyEmptyValues(data, 'content');
}

const DELTA_CONTENT = 'delta":{"content":"';

/**
 * The event's delta when it is exactly `{"content":"…"}` (compact JSON), the one `delta` of the
 * data: its content as text, and where the delta object starts and ends (`open`, its `{`;
 * `close`, after its `}`). Null when the data is not so, or the string holds a control character
 * (JSON.parse would refuse the event, and the slow path then relays it as it came).
 */
function contentOnlyDelta(data: string): { open: number; close: number; text: string } | null {
  const at = indexOfQuoted(data, 'delta"');
  if (at < 0 || !data.startsWith(DELTA_CONTENT, at + 1) || indexOfQuoted(data, 'delta"', at + 1) >= 0) return null;
  const start = at + 1 + DELTA_CONTENT.length;
  let escaped = false;
  let end = start;
  for (; end < data.length; end++) {
    const c = data.charCodeAt(end);
    if (c === QUOTE) break;
    if (c < 0x20) return null;
    if (c === BACKSLASH) {
      escaped = true;
      end++;
    }
  }
  if (end >= data.length || data.charCodeAt(end + 1) !== CLOSE_BRACE) return null;
  let text: string;
  try {
    text = escaped ? (JSON.parse(data.slice(start - 1, end + 1)) as string) : data.slice(start, end);
  } catch {
    return null;
  }
  return { open: at + 'delta":'.length + 1, close: end + 2, text };
}

/** The data's one `"index"` key has the value 0, or it has none (a choice without one is choice 0). */
function firstChoiceOnly(data: string): boolean {
  const at = indexOfQuoted(data, 'index"');
  if (at < 0) return true;
  if (indexOfQuoted(data, 'index"', at + 7) >= 0) return false;
  const v = valueAt(data, at + 7);
  if (v < 0 || data.charCodeAt(v) !== 48) return false; // 0
  const next = data.charCodeAt(v + 1);
  return next === 44 || next === CLOSE_BRACE; // `,` `}`
}

interface ChoiceState {
  scanner: TagScanner;
  nextTool: number;
  sawTools: boolean;
  /** Flushed at its finish_reason: nothing left for the end of the stream. */
  finished: boolean;
}

/**
 * `parse_unparsed`: the first `<think>` block of an assistant's content becomes
 * `reasoning_content`, every `<tool_call>` block an OpenAI tool call, and `finish_reason` `stop`
 * then becomes `tool_calls`. Structured reasoning / tool calls from the upstream switch the
 * respective tag off for that choice.
 */
export class ParseUnparsedStage implements Stage {
  private readonly choices = new Map<number, ChoiceState>();
  private readonly hasTags: boolean;

  constructor(private readonly o: ParseUnparsedOptions, private readonly maxHeldChars: number) {
    this.hasTags = o.parseThinking || o.parseToolCalls;
  }

  process(chunk: Json): null {
    const choices = chunk.choices;
    if (!this.hasTags || !Array.isArray(choices)) return null;
    for (const choice of choices) if (isObj(choice)) this.choice(choice);
    return null;
  }

  canSkip(data: string, mayHaveTag: boolean): boolean {
    if (!this.hasTags) return true;
    // (A `<` elsewhere cannot matter then: the stage scans content only.)
    if (this.choices.size === 0) return noTextYet(data);
    const only = this.choices.size === 1 ? this.choices.get(0) : undefined;
    return only !== undefined && only.scanner.idle && !only.sawTools && !mayHaveTag && !mayHaveStructured(data);
  }

  /** Inside the think block, a chunk of plain text is reasoning as it is: only its key changes. */
  rewrite(data: string, mayHaveTag: boolean): string | null {
    const only = this.choices.size === 1 ? this.choices.get(0) : undefined;
    if (!only?.scanner.thinking || mayHaveTag) return null;
    // Structured reasoning or tool calls beside the text need the slow path (chunks of a completion stream are the assistant's).
    if (mayHaveStructured(data)) return null;
    return renameKey(data, 'content', 'reasoning_content');
  }

  /**
   * An event of one choice whose delta is only a content string, the tag events (`<think>`, a
   * piece of a tool call): its delta is run through `choice` as the slow path would and put back
   * in place of the old one, without parsing and re-serialising the envelope around it.
   */
  runText(data: string): string | null {
    if (!this.hasTags || mayHaveStructured(data) || !firstChoiceOnly(data)) return null;
    const found = contentOnlyDelta(data);
    if (found === null) return null;
    const delta: Json = { content: found.text };
    this.choice({ index: 0, delta, finish_reason: null });
    return data.slice(0, found.open) + JSON.stringify(delta) + data.slice(found.close);
  }

  finish(): ChoiceDelta[] {
    const out: ChoiceDelta[] = [];
    for (const [index, st] of this.choices) {
      if (st.finished) continue;
      st.finished = true;
      const delta: Json = {};
      this.apply(delta, st.scanner.finish(), st, index);
      if (Object.keys(delta).length > 0) out.push({ index, delta });
    }
    return out;
  }

  private choice(choice: Json): void {
    const delta = choice.delta;
    if (!isObj(delta) || !isAssistant(delta)) return;
    const index = choiceIndex(choice);
    const content = delta.content;
    const nativeReasoning = isText(delta.reasoning_content);
    const nativeTools = Array.isArray(delta.tool_calls) && delta.tool_calls.length > 0;
    let st = this.choices.get(index);
    if (!st) {
      if (!isText(content) && !nativeReasoning && !nativeTools) return;
      st = { scanner: this.scanner(), nextTool: 0, sawTools: false, finished: false };
      this.choices.set(index, st);
    }
    if (nativeReasoning) st.scanner.disableThinking();
    if (nativeTools) st.scanner.disableToolCalls();
    if (isText(content)) {
      st.finished = false;
      this.apply(delta, st.scanner.feed(content), st, index);
    }
    const finish = choice.finish_reason;
    if (finish !== null && finish !== undefined && !st.finished) {
      st.finished = true;
      this.apply(delta, st.scanner.finish(), st, index, true);
    }
    if (st.sawTools && finish === 'stop') choice.finish_reason = 'tool_calls';
  }

  private apply(delta: Json, out: ScanOutput, st: ChoiceState, index: number, append = false): void {
    const before = append && typeof delta.content === 'string' ? delta.content : '';
    if (out.content !== '' || !append) setContent(delta, before + out.content);
    if (out.reasoning !== '') appendReasoning(delta, out.reasoning);
    if (out.tools.length > 0) {
      const calls = out.tools.map((tool) => toToolCall(tool, index, st.nextTool++));
      const existing = Array.isArray(delta.tool_calls) ? (delta.tool_calls as unknown[]) : [];
      delta.tool_calls = [...existing, ...calls];
      st.sawTools = true;
    }
  }

  private scanner(): TagScanner {
    return new TagScanner({
      thinkTag: this.o.parseThinking ? this.o.thinkTag : null,
      toolTag: this.o.parseToolCalls ? this.o.toolTag : null,
      maxHeldChars: this.maxHeldChars,
    });
  }
}
