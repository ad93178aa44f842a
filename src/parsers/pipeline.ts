import { CLOSE_BRACKET, COLON, CR, LF, OPEN_BRACKET, QUOTE, SPACE, TAB } from '../sse/bytes.ts';
import { indexOfQuoted } from '../sse/text-search.ts';

export type Json = Record<string, unknown>;

/** Leftover output of one choice at the end of a stream. */
export interface ChoiceDelta {
  index: number;
  delta: Json;
}

/**
 * One response parser, streaming-first: it sees chat-completion chunks in order and rewrites
 * their choice deltas in place. A non-stream body goes through the same code as a one-chunk
 * stream (see body.ts), which is what keeps the two answers identical.
 */
export interface Stage {
  /** Rewrites `chunk` in place; returns chunks to send before it, if any. */
  process(chunk: Json): Json[] | null;
  /**
   * True only when `process` would certainly leave this event data unchanged (checked before
   * JSON.parse). `mayHaveTag`: the data holds a `<`, plainly or escaped.
   */
  canSkip(data: string, mayHaveTag: boolean): boolean;
  /**
   * What `process` would make of this event data, done on the text (a key renamed), or null when
   * that is not certain. Only asked when the data holds one choice and no finish_reason.
   */
  rewrite(data: string, mayHaveTag: boolean): string | null;
  /**
   * What `process` would make of this event data, done on the text, with the state change
   * `process` makes; null, having changed nothing, when that is not certain. Asked under the same
   * terms as `rewrite`, after it, and only in stream order (the event is being sent).
   */
  runText?(data: string): string | null;
  /** End of stream: what the choices that never finished still hold. */
  finish(): ChoiceDelta[];
}

export function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isText(v: unknown): v is string {
  return typeof v === 'string' && v !== '';
}

/** Parsers touch assistant output only; a delta usually names its role once, in the first chunk. */
export function isAssistant(delta: Json): boolean {
  return delta.role === undefined || delta.role === null || delta.role === 'assistant';
}

export function choiceIndex(choice: Json): number {
  return typeof choice.index === 'number' ? choice.index : 0;
}

export function appendReasoning(delta: Json, text: string): void {
  const existing = delta.reasoning_content;
  delta.reasoning_content = typeof existing === 'string' ? existing + text : text;
}

/** Sets the delta's content, or removes it when nothing is left. */
export function setContent(delta: Json, text: string): void {
  if (text === '') delete delta.content;
  else delta.content = text;
}

/** The configured stages in order, with their per-stream state. */
export class Pipeline {
  /**
   * Counts the calls that may change a stage's state (`run`, `finish`, a `textPath` answered by
   * `runText`): what `fastPath` says of an event holds while this stays the same (`fastPath`,
   * `canSkip` and `rewrite` change nothing).
   */
  epoch = 0;

  /** The data the last `fastPath` call left to `rewrite` of the one stage, which said null. */
  private textable: string | null = null;

  constructor(private readonly stages: readonly Stage[]) {}

  /**
   * The event data to send without JSON.parse, when that is certain: the data itself (no stage
   * would change it) or a stage's textual rewrite. Null: take the slow path.
   */
  fastPath(data: string): string | null {
    this.textable = null;
    // Stages rewrite choices only: an event without any (the usage chunk) is theirs to skip.
    if (noChoices(data)) return data;
    if (otherChoiceOrFinish(data)) return null;
    const mayHaveTag = data.includes('<') || (data.includes('\\') && hasEscapedLt(data));
    let skip = true;
    for (const stage of this.stages) {
      if (!stage.canSkip(data, mayHaveTag)) {
        skip = false;
        break;
      }
    }
    if (skip) return data;
    if (this.stages.length !== 1) return null;
    const renamed = this.stages[0]!.rewrite(data, mayHaveTag);
    if (renamed === null) this.textable = data;
    return renamed;
  }

  /**
   * The last `fastPath` call was for this data (the same text) and left it to the stage: the byte
   * lane asks first, then the event comes to be sent, and the verdict need not be made twice.
   */
  leftToText(data: string): boolean {
    return this.textable === data;
  }

  /**
   * After `fastPath(data)` said null: what `run` would make of the event, done on its text by the
   * one stage (`runText`, which changes its state as `run` would), or null: the slow path. For the
   * event being sent, in stream order.
   */
  textPath(data: string): string | null {
    const stage = this.stages[0];
    if (this.textable !== data || stage?.runText === undefined) return null;
    this.textable = null;
    const out = stage.runText(data);
    if (out !== null) this.epoch++;
    return out;
  }

  /** One upstream chunk in; it (rewritten) and any chunks a stage put before it out, in order. */
  run(chunk: Json, from = 0): Json[] {
    this.epoch++;
    this.textable = null;
    let chunks = [chunk];
    for (let i = from; i < this.stages.length; i++) {
      const stage = this.stages[i]!;
      let next: Json[] | null = null;
      for (let k = 0; k < chunks.length; k++) {
        const c = chunks[k]!;
        const before = stage.process(c);
        if (before) (next ??= chunks.slice(0, k)).push(...before, c);
        else next?.push(c);
      }
      if (next) chunks = next;
    }
    return chunks;
  }

  /**
   * End of stream: each stage's leftovers, wrapped in the envelope, go through the stages after
   * it. The envelope is only asked for when there are leftovers (it may take a JSON.parse).
   */
  finish(envelope: () => Json): Json[] {
    this.epoch++;
    this.textable = null;
    const out: Json[] = [];
    let env: Json | null = null;
    this.stages.forEach((stage, i) => {
      for (const { index, delta } of stage.finish()) {
        env ??= envelope();
        out.push(...this.run({ ...env, choices: [{ index, delta, finish_reason: null }] }, i + 1));
      }
    });
    return out;
  }
}

/**
 * Renames the one `"<from>":"…"` key of an event to `to`, or null when the data does not have
 * exactly one such key with a non-empty string value. Inside a JSON string a quote is escaped, so
 * `"<from>":` can only be a key.
 */
export function renameKey(data: string, from: string, to: string): string | null {
  const rest = `${from}":"`;
  const end = rest.length + 1;
  const at = indexOfQuoted(data, rest);
  if (at < 0 || data.charCodeAt(at + end) === 34 || indexOfQuoted(data, rest, at + end) >= 0) return null;
  return `${data.slice(0, at)}"${to}":"${data.slice(at + end)}`;
}

/** JSON may spell `<` as `\u003c` (Go and some Python servers do): such data takes the slow path. */
export function hasEscapedLt(data: string): boolean {
  for (let i = data.indexOf('\\u003'); i >= 0; i = data.indexOf('\\u003', i + 5)) {
    const c = data.charCodeAt(i + 5);
    if (c === 99 || c === 67) return true; // c, C
  }
  return false;
}

/**
 * A choice other than the first (`"index"` with a value starting 1-9) or a finish_reason that is
 * not null: the slow path decides (see canSkip). Plain searches, not regular expressions: this
 * runs on every event of a parsed stream. Inside a JSON string a quote is escaped, so `"index"`
 * followed by a colon can only be a key.
 */
export function otherChoiceOrFinish(data: string): boolean {
  for (let at = indexOfQuoted(data, 'index"'); at >= 0; at = indexOfQuoted(data, 'index"', at + 7)) {
    const v = valueAt(data, at + 7);
    if (v >= 0) {
      const c = data.charCodeAt(v);
      if (c >= 49 && c <= 57) return true;
    }
  }
  for (let at = indexOfQuoted(data, 'finish_reason"'); at >= 0; at = indexOfQuoted(data, 'finish_reason"', at + 15)) {
    const v = valueAt(data, at + 15);
    if (v >= 0 && !data.startsWith('null', v)) return true;
  }
  return false;
}

/**
 * The data has no choices: no `"choices"` key, or one whose value is an empty array. Data with a
 * backslash is not judged (JSON may spell a key with escapes).
 */
export function noChoices(data: string): boolean {
  // Every event of a stream but the usage chunk has a choice: its first `choices` value answers,
  // before the scans for a second key and a backslash.
  const at = indexOfQuoted(data, 'choices"');
  if (at >= 0) {
    const v = valueAt(data, at + 9);
    if (v < 0 || data.charCodeAt(v) !== OPEN_BRACKET || data.charCodeAt(skipSpace(data, v + 1)) !== CLOSE_BRACKET) return false;
    if (indexOfQuoted(data, 'choices"', at + 9) >= 0) return false;
  }
  return !data.includes('\\');
}

/**
 * Every `"<key>"` of the data has the value `""` or `null` (none at all is fine too), or false
 * when that is not certain. Data with a backslash is not judged.
 */
export function onlyEmptyValues(data: string, key: string): boolean {
  if (data.includes('\\')) return false;
  const rest = `${key}"`;
  for (let at = indexOfQuoted(data, rest); at >= 0; at = indexOfQuoted(data, rest, at + rest.length + 1)) {
    const v = valueAt(data, at + rest.length + 1);
    if (v < 0) continue; // not a key: a string value that ends the same way
    if (!(data.charCodeAt(v) === QUOTE && data.charCodeAt(v + 1) === QUOTE) && !data.startsWith('null', v)) return false;
  }
  return true;
}

/** Where the value after a key ending at `i` starts (JSON whitespace, a colon, whitespace), or -1. */
export function valueAt(data: string, i: number): number {
  i = skipSpace(data, i);
  if (data.charCodeAt(i) !== COLON) return -1;
  return skipSpace(data, i + 1);
}

function skipSpace(data: string, i: number): number {
  for (let c = data.charCodeAt(i); c === SPACE || c === TAB || c === LF || c === CR; c = data.charCodeAt(++i));
  return i;
}
