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

export type HeaderSanitizer = (headers: Iterable<[string, string]>) => Record<string, string>;

export function createHeaderSanitizer(extra: readonly string[] = []): HeaderSanitizer {
  const secret = new Set([...SECRET_HEADERS, ...extra.map((h) => h.toLowerCase())]);
  return (headers) => {
    const out: Record<string, string> = {};
    for (const [rawName, value] of headers) {
      const name = rawName.toLowerCase();
      out[name] = secret.has(name) ? maskSecret(value) : value;
    }
    return out;
  };
}
