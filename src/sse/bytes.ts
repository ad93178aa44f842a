// ASCII codes that the SSE and parser code compares bytes and UTF-16 units against, in one place.

export const TAB = 9;
export const LF = 10;
export const CR = 13;
export const SPACE = 32;
export const QUOTE = 34;
export const COLON = 58;
export const LT = 60;
export const OPEN_BRACKET = 91;
export const BACKSLASH = 92;
export const CLOSE_BRACKET = 93;
export const UNDERSCORE = 95;
export const LOWER_A = 97;
export const LOWER_E = 101;
export const LOWER_Z = 122;
export const OPEN_BRACE = 123;
export const CLOSE_BRACE = 125;

/** `data: ` (with its space), the start of the only SSE line the byte lanes read themselves. */
const DATA_FIELD = [100, 97, 116, 97, COLON, SPACE];

/** Whether `bytes` holds `data: ` at `at`. */
export function isDataField(bytes: Uint8Array, at: number): boolean {
  if (bytes.byteLength - at < DATA_FIELD.length) return false;
  for (let i = 0; i < DATA_FIELD.length; i++) if (bytes[at + i] !== DATA_FIELD[i]) return false;
  return true;
}
