/**
 * `proxy_settings.auth` of the default config: the admin token and the client keys. Validated by
 * the same loader pass as everything else, so a bad key is reported with its file and dot-path.
 */
import { createHash } from 'node:crypto';
import * as v from 'valibot';

export interface ClientKey {
  /** Recorded with each request and shown in usage; never the key itself. */
  readonly name: string;
  /** Lowercase hex SHA-256 of the key. */
  readonly hash: string;
}

export interface AuthSettings {
  /** `proxy_settings.auth.admin_token`; `YALLMP_ADMIN_TOKEN` beats it. */
  readonly adminToken: string | null;
  /** Empty: `/v1/*` is open. */
  readonly keys: readonly ClientKey[];
}

export const NO_AUTH: AuthSettings = Object.freeze({ adminToken: null, keys: Object.freeze([]) });

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** An unset `${VAR}` survives substitution as text; as a credential it would be guessable. */
const UNRESOLVED = /\$\{[^}]+\}|\$[A-Za-z_][A-Za-z0-9_]*/;
const credential = v.pipe(
  v.string(),
  v.trim(),
  v.nonEmpty('must not be empty'),
  v.check((s) => !UNRESOLVED.test(s), 'contains an environment variable that is not set'),
);

const keyEntry = v.pipe(
  v.looseObject({
    name: v.pipe(v.string(), v.trim(), v.nonEmpty('must not be empty')),
    key: v.optional(credential),
    key_hash: v.optional(
      v.pipe(v.string(), v.trim(), v.regex(/^[0-9a-f]{64}$/i, 'must be the hex SHA-256 of the key (64 hex digits)')),
    ),
  }),
  v.check((e) => (e.key === undefined) !== (e.key_hash === undefined), 'needs exactly one of key or key_hash'),
  v.transform((e): ClientKey => ({ name: e.name, hash: (e.key_hash ?? sha256Hex(e.key ?? '')).toLowerCase() })),
);

export const authSchema = v.pipe(
  v.nullish(
    v.looseObject({
      admin_token: v.pipe(
        v.nullish(v.string()),
        v.transform((s) => s?.trim() || null),
        v.check((s) => s === null || !UNRESOLVED.test(s), 'contains an environment variable that is not set'),
      ),
      keys: v.nullish(v.array(keyEntry)),
    }),
  ),
  v.transform((auth): AuthSettings => ({
    adminToken: auth?.admin_token ?? null,
    keys: auth?.keys ?? [],
  })),
);
