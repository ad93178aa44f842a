import type { ParseUnparsedOptions } from '../config/types.ts';
import {
  appendReasoning, choiceIndex, isAssistant, isObj, isText, onlyEmptyValues, renameKey, setContent,
  type ChoiceDelta, type Json, type Stage,
} from './pipeline.ts';
import { includesQuoted } from '../sse/text-search.ts';
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
