export interface ParsedTool {
  name: string;
  arguments: Record<string, unknown>;
}

/** An OpenAI `tool_calls` item; `index` is kept in non-stream bodies too, as the original did. */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
  index: number;
}

const ARG_PAIR = /<arg_key>([\s\S]*?)<\/arg_key>\s*<arg_value>([\s\S]*?)<\/arg_value>/g;

/**
 * The body of one `<tool_call>` block. GLM style: `name<arg_key>k</arg_key><arg_value>v</arg_value>…`
 * (values JSON-decoded when they parse); without arguments the name is the first word. A body
 * that is a JSON object with a string `name` (Hermes / Qwen style) is read as such. Null when no
 * name can be found: the block then stays in the content as it was.
 */
export function parseToolBlock(body: string): ParsedTool | null {
  const text = body.trim();
  if (text === '') return null;
  if (text.startsWith('{')) {
    const json = jsonObjectCall(text);
    if (json) return json;
  }
  const argStart = text.indexOf('<arg_key>');
  if (argStart < 0) {
    const name = text.split(/\s+/, 1)[0] ?? '';
    return name === '' ? null : { name, arguments: {} };
  }
  const name = text.slice(0, argStart).trim();
  if (name === '') return null;
  const args: Record<string, unknown> = {};
  for (const match of text.slice(argStart).matchAll(ARG_PAIR)) {
    const key = (match[1] ?? '').trim();
    if (key !== '') args[key] = maybeJson((match[2] ?? '').trim());
  }
  return { name, arguments: args };
}

export function toToolCall(tool: ParsedTool, choiceIndex: number, index: number): ToolCall {
  return {
    id: `call_${choiceIndex}_${index}`,
    type: 'function',
    function: { name: tool.name, arguments: JSON.stringify(tool.arguments) },
    index,
  };
}

/**
 * What JSON.parse can accept starts, after JSON whitespace, like this: anything else (a plain
 * string argument, the usual case) would only throw, and a throw costs far more than the parse.
 */
const JSON_START = /^[ \t\n\r]*[[{"0-9tfn-]/;

function maybeJson(value: string): unknown {
  if (!JSON_START.test(value)) return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

function jsonObjectCall(text: string): ParsedTool | null {
  const json = maybeJson(text);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return null;
  const { name, arguments: args } = json as { name?: unknown; arguments?: unknown };
  if (typeof name !== 'string' || name === '') return null;
  const parsedArgs = typeof args === 'string' ? maybeJson(args) : args;
  const isObject = typeof parsedArgs === 'object' && parsedArgs !== null && !Array.isArray(parsedArgs);
  return { name, arguments: isObject ? (parsedArgs as Record<string, unknown>) : {} };
}
