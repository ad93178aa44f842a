import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Constant-time string comparison. Both sides are hashed first so that the comparison also takes
 * the same time whatever the lengths (`timingSafeEqual` itself refuses unequal lengths).
 */
export function safeEqual(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** Compares the SHA-256 of `presented` with a stored hex digest, in constant time. */
export function matchesHash(presentedDigest: Buffer, storedHex: string): boolean {
  const stored = Buffer.from(storedHex, 'hex');
  return stored.length === presentedDigest.length && timingSafeEqual(presentedDigest, stored);
}
