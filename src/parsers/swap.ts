import type { SwapReasoningOptions } from '../config/types.ts';
import {
  appendReasoning, choiceIndex, isAssistant, isObj, isText, renameKey, setContent,
  type ChoiceDelta, type Json, type Stage,
} from './pipeline.ts';
import { includesQuoted } from '../sse/text-search.ts';
import { TagScanner } from './scanner.ts';

type Direction = 'reasoning_to_content' | 'content_to_reasoning';

interface ChoiceState {
  direction: Direction | null;
  /** reasoning_to_content: the open tag was sent, the close tag not yet. */
  inside: boolean;
  /** content_to_reasoning: the think-tag scanner. */
  scanner: TagScanner | null;
  finished: boolean;
}

/**
 * `swap_reasoning_content`. reasoning_to_content: `reasoning_content` goes inline into the content
 * as `<think>…</think>` (open tag with the first reasoning delta; close tag when content or tool
 * calls start, at finish_reason or at the end). content_to_reasoning: the first `<think>` block of
 * the content becomes `reasoning_content`. auto: per choice, reasoning present → inline, else extract.
 */
export class SwapReasoningStage implements Stage {
  private readonly choices = new Map<number, ChoiceState>();
  private readonly open: string;
  private readonly close: string;

  constructor(private readonly o: SwapReasoningOptions, private readonly maxHeldChars: number) {
    this.open = `${o.thinkOpen.prefix}<${o.thinkTag}>${o.thinkOpen.suffix}`;
    this.close = `${o.thinkClose.prefix}</${o.thinkTag}>${o.thinkClose.suffix}`;
  }

  process(chunk: Json): Json[] | null {
    const choices = chunk.choices;
    if (!Array.isArray(choices)) return null;
    let before: Json[] | null = null;
    for (const choice of choices) {
      if (!isObj(choice)) continue;
      const extra = this.choice(chunk, choice);
      if (extra) (before ??= []).push(extra);
    }
    return before;
  }

  canSkip(data: string, mayHaveTag: boolean): boolean {
    const only = this.choices.size === 1 ? this.choices.get(0) : undefined;
    if (only === undefined || only.direction === null) return false;
    if (only.direction === 'reasoning_to_content') return !only.inside && !includesQuoted(data, 'reasoning_content"');
    return only.scanner !== null && only.scanner.idle && !mayHaveTag;
  }

  /** Inside the reasoning, later reasoning deltas become content as they are: only their key changes. */
  rewrite(data: string): string | null {
    const only = this.choices.size === 1 ? this.choices.get(0) : undefined;
    if (!only?.inside || includesQuoted(data, 'content"') || includesQuoted(data, 'tool_calls"')) return null;
    return renameKey(data, 'reasoning_content', 'content');
  }

  finish(): ChoiceDelta[] {
    const out: ChoiceDelta[] = [];
    for (const [index, st] of this.choices) {
      if (st.finished) continue;
      st.finished = true;
      if (st.inside) {
        st.inside = false;
        out.push({ index, delta: { content: this.close } });
      } else if (st.scanner) {
        const rest = st.scanner.finish();
        const delta: Json = {};
        if (rest.content !== '') delta.content = rest.content;
        if (rest.reasoning !== '') delta.reasoning_content = rest.reasoning;
        if (Object.keys(delta).length > 0) out.push({ index, delta });
      }
    }
    return out;
  }

  private choice(chunk: Json, choice: Json): Json | null {
    const delta = choice.delta;
    if (!isObj(delta) || !isAssistant(delta)) return null;
    const index = choiceIndex(choice);
    let st = this.choices.get(index);
    if (!st) {
      st = { direction: null, inside: false, scanner: null, finished: false };
      this.choices.set(index, st);
    }
    if (st.direction === null) {
      st.direction = this.decide(delta);
      if (st.direction === null) return null;
    }
    if (st.direction === 'reasoning_to_content') return this.toContent(chunk, choice, delta, st, index);
    this.toReasoning(choice, delta, st);
    return null;
  }

  /** auto waits for the first delta that carries reasoning or content. */
  private decide(delta: Json): Direction | null {
    if (this.o.mode !== 'auto') return this.o.mode;
    if (isText(delta.reasoning_content)) return 'reasoning_to_content';
    return isText(delta.content) ? 'content_to_reasoning' : null;
  }

  private toContent(chunk: Json, choice: Json, delta: Json, st: ChoiceState, index: number): Json | null {
    const reasoning = delta.reasoning_content;
    const content = delta.content;
    let text: string | null = null;
    if (typeof reasoning === 'string') {
      delete delta.reasoning_content;
      if (reasoning !== '') {
        text = (st.inside ? '' : this.open) + reasoning;
        st.inside = true;
        st.finished = false;
      }
    }
    if (isText(content)) {
      text = (text ?? '') + (st.inside ? this.close + (this.o.includeNewline ? '\n' : '') : '') + content;
      st.inside = false;
    }
    if (text !== null) delta.content = text;
    let before: Json | null = null;
    if (st.inside && Array.isArray(delta.tool_calls) && delta.tool_calls.length > 0) {
      // Clients read tool calls as the end of the text: the think block closes in a chunk of its own first.
      const head = typeof delta.content === 'string' ? delta.content : '';
      delete delta.content;
      st.inside = false;
      before = { ...chunk, choices: [{ index, delta: { content: head + this.close }, finish_reason: null }] };
    }
    if (st.inside && choice.finish_reason !== null && choice.finish_reason !== undefined) {
      delta.content = (typeof delta.content === 'string' ? delta.content : '') + this.close;
      st.inside = false;
    }
    if (choice.finish_reason !== null && choice.finish_reason !== undefined) st.finished = true;
    return before;
  }

  private toReasoning(choice: Json, delta: Json, st: ChoiceState): void {
    st.scanner ??= new TagScanner({ thinkTag: this.o.thinkTag, toolTag: null, maxHeldChars: this.maxHeldChars });
    if (isText(delta.reasoning_content)) st.scanner.disableThinking();
    const content = delta.content;
    if (isText(content)) {
      st.finished = false;
      const out = st.scanner.feed(content);
      setContent(delta, out.content);
      if (out.reasoning !== '') appendReasoning(delta, out.reasoning);
    }
    if (choice.finish_reason !== null && choice.finish_reason !== undefined && !st.finished) {
      st.finished = true;
      const out = st.scanner.finish();
      if (out.content !== '') delta.content = (typeof delta.content === 'string' ? delta.content : '') + out.content;
      if (out.reasoning !== '') appendReasoning(delta, out.reasoning);
    }
  }
}
