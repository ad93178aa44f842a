/** Headers whose values are credentials. Masked in files, rows and console logs. */
export const SECRET_HEADERS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'api-key',
  'cookie',
  'set-cookie',
  'x-admin-token',
];

/**
 * Keeps just enough of a credential to tell two keys apart in a log (`Bearer sk-****`),
 * never enough to use it. Short values are masked whole.
 */
export function maskSecret(value: string): string {
  const bearer = /^(bearer|basic)\s+/i.exec(value);
  const prefix = bearer ? bearer[0] : '';
  const token = value.slice(prefix.length);
  if (token.length <= 8) return `${prefix}****`;
  return `${prefix}${token.slice(0, 3)}****`;
}

/** A web `Headers`, `[name, value]` pairs, or node's plain incoming header object. */
export type HeaderSource = Iterable<[string, string]> | Readonly<Record<string, string | string[] | undefined>>;

export type HeaderSanitizer = (headers: HeaderSource) => Record<string, string>;

/** Visits each header once as (lowercase-insensitive name, value); node's arrays are joined. */
export function forEachHeader(headers: HeaderSource, visit: (name: string, value: string) => void): void {
  if (Symbol.iterator in headers) {
    for (const [name, value] of headers as Iterable<[string, string]>) visit(name, value);
    return;
  }
  const obj = headers as Readonly<Record<string, string | string[] | undefined>>;
  for (const name in obj) {
    const value = obj[name];
    if (value !== undefined) visit(name, Array.isArray(value) ? value.join(', ') : value);
  }
}

export function createHeaderSanitizer(extra: readonly string[] = []): HeaderSanitizer {
  const secret = new Set([...SECRET_HEADERS, ...extra.map((h) => h.toLowerCase())]);
  return (headers) => {
    const out: Record<string, string> = {};
    forEachHeader(headers, (rawName, value) => {
      const name = rawName.toLowerCase();
      out[name] = secret.has(name) ? maskSecret(value) : value;
    });
    return out;
  };
}
