// Substring searches that run several times per streamed event (the tap's pre-check, the parsers'
// fast paths). V8's indexOf stops at every occurrence of the needle's first character; in JSON text
// `"` (and letters such as `e`) are everywhere, so a needle that starts with one is 3–5× slower on
// a chat chunk than the same needle searched from its second character. These search the rest of
// the needle and check the character before it.

import { QUOTE } from './bytes.ts';

/** `text.indexOf(String.fromCharCode(head) + tail, from)`, for a `head` that is common in the text. */
export function indexOfJoined(text: string, head: number, tail: string, from = 0): number {
  for (let i = text.indexOf(tail, from + 1); i >= 0; i = text.indexOf(tail, i + 1)) {
    if (text.charCodeAt(i - 1) === head) return i - 1;
  }
  return -1;
}

/** `text.indexOf('"' + rest, from)`. */
export function indexOfQuoted(text: string, rest: string, from = 0): number {
  return indexOfJoined(text, QUOTE, rest, from);
}

/** `text.includes('"' + rest)`. */
export function includesQuoted(text: string, rest: string): boolean {
  return indexOfJoined(text, QUOTE, rest) >= 0;
}
