import type { Pipeline } from './pipeline.ts';
import { choiceIndex, isObj, type Json } from './pipeline.ts';

interface Folded {
  content: string;
  reasoning: string;
  tools: unknown[];
}

/**
 * A non-stream chat completion through the streaming parsers: its choices become the deltas of
 * one chunk (the message objects themselves, rewritten in place), the stream is finished, and
 * every chunk that came out is folded back into the messages. Returns false when the body has
 * no choices to work on.
 */
export function rewriteCompletion(pipeline: Pipeline, body: Json): boolean {
  const choices = body.choices;
  if (!Array.isArray(choices)) return false;
  const targets: { choice: Json; message: Json; index: number; hadTools: boolean }[] = [];
  const deltas: Json[] = [];
  choices.forEach((choice, position) => {
    if (!isObj(choice) || !isObj(choice.message)) return;
    const index = typeof choice.index === 'number' ? choice.index : position;
    const message = choice.message;
    targets.push({ choice, message, index, hadTools: Array.isArray(message.tool_calls) && message.tool_calls.length > 0 });
    deltas.push({ index, delta: message, finish_reason: choice.finish_reason ?? null });
  });
  if (targets.length === 0) return false;

  const originals = targets.map(({ message }) => ({ content: message.content, reasoning: message.reasoning_content }));
  const chunk: Json = { choices: deltas };
  const out = [...pipeline.run(chunk), ...pipeline.finish(() => ({}))];
  const folded = fold(out);

  targets.forEach(({ choice, message, index, hadTools }, i) => {
    const f = folded.get(index) ?? { content: '', reasoning: '', tools: [] };
    const original = originals[i]!;
    const wasText = typeof original.content === 'string' && original.content !== '';
    if (f.content !== '') message.content = f.content;
    else message.content = wasText || original.content === undefined ? null : original.content;
    if (f.reasoning !== '') message.reasoning_content = f.reasoning;
    if (f.tools.length > 0) message.tool_calls = f.tools;
    const finish = deltas[i]!.finish_reason;
    const parsedTools = f.tools.length > 0 && !hadTools;
    const next = parsedTools && (finish === null || finish === 'stop') ? 'tool_calls' : finish;
    if (next !== (choice.finish_reason ?? null)) choice.finish_reason = next;
  });
  return true;
}

/** Concatenates the choice deltas of `chunks`, in order, per choice index. */
export function fold(chunks: readonly Json[]): Map<number, Folded> {
  const acc = new Map<number, Folded>();
  for (const chunk of chunks) {
    if (!Array.isArray(chunk.choices)) continue;
    for (const choice of chunk.choices) {
      if (!isObj(choice) || !isObj(choice.delta)) continue;
      const index = choiceIndex(choice);
      let f = acc.get(index);
      if (!f) acc.set(index, (f = { content: '', reasoning: '', tools: [] }));
      const d = choice.delta;
      if (typeof d.content === 'string') f.content += d.content;
      if (typeof d.reasoning_content === 'string') f.reasoning += d.reasoning_content;
      if (Array.isArray(d.tool_calls)) f.tools.push(...(d.tool_calls as unknown[]));
    }
  }
  return acc;
}
