import { parseToolBlock, type ParsedTool } from './tool-call.ts';

export interface ScannerOptions {
  /** Tag name whose first block becomes reasoning, or null to leave thinking alone. */
  thinkTag: string | null;
  /** Tag name whose blocks become tool calls, or null to leave them alone. */
  toolTag: string | null;
  /** A tool block body (or run of leading whitespace) longer than this is let through as text. */
  maxHeldChars: number;
}

export interface ScanOutput {
  content: string;
  reasoning: string;
  tools: ParsedTool[];
}

const TEXT = 0;
const THINK = 1;
const TOOL = 2;
const WHITESPACE_ONLY = /^\s*$/;

/**
 * Incremental `<think>` / `<tool_call>` scanner for one choice's content. The result does not
 * depend on how the text is split: feeding it whole (a non-stream body) or in any pieces (a
 * stream) yields the same concatenated content, reasoning and tool calls. What it holds back is
 * bounded: a possible partial tag (shorter than the tag), a tool block body (`maxHeldChars`) and
 * leading whitespace (`maxHeldChars`), which is dropped if the content never gets past it — the
 * streaming form of "content that is empty after stripping becomes null".
 */
export class TagScanner {
  private mode = TEXT;
  /** Unconsumed input: a possible partial tag at the end of what was fed. */
  private held = '';
  private toolBody = '';
  private thinkOpen: string | null;
  private readonly thinkClose: string;
  private toolOpen: string | null;
  private readonly toolClose: string;
  private contentStarted = false;
  private leadingSpace = '';
  private out: ScanOutput = { content: '', reasoning: '', tools: [] };

  constructor(private readonly opts: ScannerOptions) {
    this.thinkOpen = opts.thinkTag === null ? null : `<${opts.thinkTag}>`;
    this.thinkClose = `</${opts.thinkTag ?? ''}>`;
    this.toolOpen = opts.toolTag === null ? null : `<${opts.toolTag}>`;
    this.toolClose = `</${opts.toolTag ?? ''}>`;
  }

  /** Nothing held and content already started: a chunk without `<` passes through unchanged. */
  get idle(): boolean {
    return this.mode === TEXT && this.held === '' && this.contentStarted;
  }

  /** Inside the think block with nothing held: text without `<` is reasoning as it is. */
  get thinking(): boolean {
    return this.mode === THINK && this.held === '';
  }

  /** Thinking arrived as structured reasoning: a later `<think>` is plain text. */
  disableThinking(): void {
    if (this.mode !== THINK) this.thinkOpen = null;
  }

  /** Tool calls arrived structured: later `<tool_call>` blocks are plain text. */
  disableToolCalls(): void {
    if (this.mode !== TOOL) this.toolOpen = null;
  }

  feed(text: string): ScanOutput {
    const out = this.reset();
    if (text === '') return out;
    const s = this.held === '' ? text : this.held + text;
    this.held = '';
    let i = 0;
    while (i < s.length) {
      if (this.mode === TEXT) i = this.scanText(s, i);
      else if (this.mode === THINK) i = this.scanThink(s, i);
      else i = this.scanTool(s, i);
    }
    return out;
  }

  /** End of the choice: whatever is held comes out as what it was inside; leading whitespace alone is dropped. */
  finish(): ScanOutput {
    const out = this.reset();
    if (this.mode === THINK) {
      if (this.held !== '') out.reasoning += this.held;
    } else if (this.mode === TOOL) {
      this.emitContent(`${this.toolOpen ?? ''}${this.toolBody}${this.held}`);
    } else if (this.held !== '') {
      this.emitContent(this.held);
    }
    this.mode = TEXT;
    this.held = '';
    this.toolBody = '';
    this.leadingSpace = '';
    return out;
  }

  private reset(): ScanOutput {
    this.out = { content: '', reasoning: '', tools: [] };
    return this.out;
  }

  private scanText(s: string, from: number): number {
    let p = from;
    for (;;) {
      const lt = s.indexOf('<', p);
      if (lt < 0) {
        this.emitContent(from === 0 ? s : s.slice(from));
        return s.length;
      }
      if (this.thinkOpen !== null && s.startsWith(this.thinkOpen, lt)) {
        this.emitContent(s.slice(from, lt));
        this.mode = THINK;
        return lt + this.thinkOpen.length;
      }
      if (this.toolOpen !== null && s.startsWith(this.toolOpen, lt)) {
        this.emitContent(s.slice(from, lt));
        this.mode = TOOL;
        this.toolBody = '';
        return lt + this.toolOpen.length;
      }
      if (isPartial(s, lt, this.thinkOpen) || isPartial(s, lt, this.toolOpen)) {
        this.emitContent(s.slice(from, lt));
        this.held = s.slice(lt);
        return s.length;
      }
      p = lt + 1;
    }
  }

  private scanThink(s: string, from: number): number {
    const close = s.indexOf(this.thinkClose, from);
    if (close >= 0) {
      this.out.reasoning += s.slice(from, close);
      this.mode = TEXT;
      // Only the first block is reasoning; later ones stay in the content.
      this.thinkOpen = null;
      return close + this.thinkClose.length;
    }
    const end = partialStart(s, from, this.thinkClose);
    this.out.reasoning += s.slice(from, end);
    this.held = s.slice(end);
    return s.length;
  }

  private scanTool(s: string, from: number): number {
    const close = s.indexOf(this.toolClose, from);
    const end = close >= 0 ? close : partialStart(s, from, this.toolClose);
    const max = this.opts.maxHeldChars;
    if (this.toolBody.length + (end - from) > max) {
      // Too long to be a tool call: its first `max` characters are text and scanning resumes
      // right after them, at the same offset however the input was split.
      const take = max - this.toolBody.length;
      this.emitContent(`${this.toolOpen ?? ''}${this.toolBody}${s.slice(from, from + take)}`);
      this.toolBody = '';
      this.mode = TEXT;
      return from + take;
    }
    this.toolBody += s.slice(from, end);
    if (close < 0) {
      this.held = s.slice(end);
      return s.length;
    }
    const parsed = parseToolBlock(this.toolBody);
    if (parsed) this.out.tools.push(parsed);
    else this.emitContent(`${this.toolOpen ?? ''}${this.toolBody}${this.toolClose}`);
    this.toolBody = '';
    this.mode = TEXT;
    return close + this.toolClose.length;
  }

  private emitContent(text: string): void {
    if (text === '') return;
    if (this.contentStarted) {
      this.out.content += text;
      return;
    }
    if (WHITESPACE_ONLY.test(text)) {
      this.leadingSpace += text;
      if (this.leadingSpace.length <= this.opts.maxHeldChars) return;
    } else {
      this.leadingSpace += text;
    }
    this.contentStarted = true;
    this.out.content += this.leadingSpace;
    this.leadingSpace = '';
  }
}

/** Whether `s` from `at` to its end is a proper prefix of `tag` (so the tag may complete in the next piece). */
function isPartial(s: string, at: number, tag: string | null): boolean {
  return tag !== null && s.length - at < tag.length && tag.startsWith(s.slice(at));
}

/**
 * Where a possible partial `tag` at the end of `s` starts (`s.length` if none). Tag names cannot
 * contain `<`, so only the last `<` can start one.
 */
function partialStart(s: string, from: number, tag: string): number {
  const lt = s.lastIndexOf('<');
  return lt >= from && isPartial(s, lt, tag) ? lt : s.length;
}
