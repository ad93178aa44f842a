import type { BackendConfig, ProxyConfig } from '../config/types.ts';

/** `openai/<name>` → `<name>` (case-insensitive prefix), whitespace trimmed; other prefixes are kept. */
export function normalizeModelName(raw: string): string {
  const name = raw.trim();
  const slash = name.indexOf('/');
  if (slash > 0 && name.slice(0, slash).toLowerCase() === 'openai' && slash < name.length - 1) {
    return name.slice(slash + 1);
  }
  return name;
}

/**
 * The model's own backend first, then its fallbacks in order; duplicates and unknown names
 * are skipped. Like the original, fallbacks are not transitive: a fallback's own fallbacks
 * are not followed, so a route is always predictable from one config line.
 */
export function buildRoute(config: ProxyConfig, model: string): BackendConfig[] {
  const names = [model, ...(config.fallbacks[model] ?? [])];
  const seen = new Set<string>();
  const route: BackendConfig[] = [];
  for (const name of names) {
    if (seen.has(name)) continue;
    seen.add(name);
    const backend = config.backends.get(name);
    if (backend) route.push(backend);
  }
  return route;
}
