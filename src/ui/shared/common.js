// Helpers shared by the /usage and /logs pages. Everything that reaches the DOM goes through
// textContent / createElement (see `el`): model names, error messages and bodies are user data.

/** Same key as the admin page, so a token entered on one page works on the others in this tab. */
const TOKEN_KEY = 'yallmp-admin-token';
const THEME_KEY = 'yallmp-theme';

export const $ = (id) => document.getElementById(id);

/**
 * `el('td', { className: 'num', dataset: { model } }, 'text', child)`: properties are assigned
 * (never parsed as HTML); string children become text nodes, null/undefined/false are skipped.
 */
export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null) continue;
      if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key === 'on') for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
      else if (key in node) node[key] = value;
      else node.setAttribute(key, String(value));
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// ---------------------------------------------------------------------------------------------
// API access

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}

/**
 * GET a JSON API. `admin: true` for the guarded `/api/logs*`: the stored admin token is sent, and
 * a 401 opens the token prompt and retries with what was entered (until the prompt is cancelled).
 */
export async function getJson(path, { admin = false } = {}) {
  for (;;) {
    const res = await fetch(path, { headers: admin ? authHeaders() : {}, cache: 'no-store' });
    const data = await res.json().catch(() => null);
    if (res.ok) return data;
    const error = data && data.error;
    const message = (error && error.message) || `HTTP ${res.status}`;
    if (admin && res.status === 401 && (await askToken(message))) continue;
    throw new ApiError(res.status, (error && error.code) || null, message);
  }
}

let pendingPrompt = null;

/**
 * A small modal asking for the admin token; resolves true when one was entered. Calls that hit a
 * 401 at the same time share one prompt.
 */
export function askToken(reason) {
  pendingPrompt ??= new Promise((resolve) => {
    const input = el('input', { type: 'password', id: 'admin-token-input', autocomplete: 'off', required: true });
    const form = el(
      'form',
      { method: 'dialog', className: 'token-form' },
      el('h2', null, 'Admin token required'),
      el('p', { className: 'hint' }, 'Request logs hold request bodies, so this API needs the admin token. It is kept for this tab only.'),
      reason ? el('p', { className: 'error' }, reason) : null,
      el('label', { htmlFor: 'admin-token-input' }, 'Admin token'),
      input,
      el(
        'div',
        { className: 'buttons' },
        el('button', { type: 'button', value: 'cancel', on: { click: () => dialog.close('cancel') } }, 'Cancel'),
        el('button', { type: 'submit', value: 'ok', className: 'primary' }, 'Use token'),
      ),
    );
    const dialog = el('dialog', { id: 'token-dialog', 'aria-label': 'Admin token' }, form);
    dialog.addEventListener('close', () => {
      const token = input.value.trim();
      const ok = dialog.returnValue === 'ok' && token !== '';
      if (ok) sessionStorage.setItem(TOKEN_KEY, token);
      dialog.remove();
      pendingPrompt = null;
      resolve(ok);
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
  return pendingPrompt;
}

// ---------------------------------------------------------------------------------------------
// Page chrome: theme toggle

const THEMES = ['auto', 'light', 'dark'];

/** Theme now in effect ('light' | 'dark'), whether chosen or inherited from the system. */
export function effectiveTheme() {
  const chosen = document.documentElement.dataset.theme;
  if (chosen === 'light' || chosen === 'dark') return chosen;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/**
 * Wires the header's theme button (auto → light → dark). Charts listen for `yallmp:theme` to
 * redraw in the new colours; it also fires when the system preference flips under "auto".
 */
export function initTheme(button) {
  const stored = () => {
    try {
      const t = localStorage.getItem(THEME_KEY);
      return THEMES.includes(t) ? t : 'auto';
    } catch {
      return 'auto';
    }
  };
  const label = () => {
    button.textContent = `Theme: ${stored()}`;
    button.title = 'Switch between system (auto), light and dark';
  };
  const changed = () => window.dispatchEvent(new CustomEvent('yallmp:theme'));
  button.addEventListener('click', () => {
    const next = THEMES[(THEMES.indexOf(stored()) + 1) % THEMES.length];
    try {
      if (next === 'auto') localStorage.removeItem(THEME_KEY);
      else localStorage.setItem(THEME_KEY, next);
    } catch {
      // Not persisted, but still applied below for this page view.
    }
    if (next === 'auto') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = next;
    label();
    changed();
  });
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    if (stored() === 'auto') changed();
  });
  label();
}

/** A CSS custom property of the root, as the current theme resolves it. */
export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// ---------------------------------------------------------------------------------------------
// Formatting (all return plain strings; '—' for missing values)

const DASH = '—';
const intFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

export function fmtInt(n) {
  return n === null || n === undefined || Number.isNaN(Number(n)) ? DASH : intFmt.format(Number(n));
}

/** 0.1234 → "12.3 %" */
export function fmtPct(ratio) {
  if (ratio === null || ratio === undefined) return DASH;
  return `${(Number(ratio) * 100).toFixed(ratio === 0 || ratio === 1 ? 0 : 1)} %`;
}

/** Milliseconds, switching to seconds from 10 s up. */
export function fmtMs(ms) {
  if (ms === null || ms === undefined) return DASH;
  const n = Number(ms);
  if (n >= 10_000) return `${(n / 1000).toFixed(1)} s`;
  return `${intFmt.format(Math.round(n))} ms`;
}

/** A duration in seconds as "3d 4h", "2h 5m", "4m 10s", "12s". */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return DASH;
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

const timeFmt = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** ISO timestamp → local date and time. */
export function fmtTime(iso) {
  if (!iso) return DASH;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : timeFmt.format(d);
}

export function text(value) {
  return value === null || value === undefined || value === '' ? DASH : String(value);
}

/** A badge for a request outcome; unknown values still render (as text), with a neutral style. */
export function outcomeBadge(outcome) {
  const known = ['success', 'error', 'cancelled'].includes(outcome);
  return el('span', { className: `badge outcome ${known ? outcome : 'other'}` }, text(outcome));
}
