// Admin page. Data reaches the DOM only through textContent / value, never as HTML.
// Secret fields are never pre-filled: a masked value the API returned is kept aside and sent
// back only when the field is left empty, and the server swaps it for the stored secret.

const TOKEN_KEY = 'yallmp-admin-token';
const $ = (id) => document.getElementById(id);

/** Own (unresolved, masked) entries by name, for edit forms; current fallbacks by model. */
const state = { own: new Map(), fallbacks: {}, editing: null };

function authHeaders(json) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.authorization = `Bearer ${token}`;
  if (json) headers['content-type'] = 'application/json';
  return headers;
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: authHeaders(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const error = data && data.error;
    const detail = error && (error.details ? error.details.join('\n') : error.message);
    throw new Error(detail || `HTTP ${res.status}`);
  }
  return data;
}

function show(message, kind = 'info') {
  const status = $('status');
  status.textContent = message;
  status.dataset.kind = kind;
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text === undefined || text === null || text === '' ? '—' : String(text);
  if (className) td.className = className;
  return td;
}

function badge(text, kind) {
  const span = document.createElement('span');
  span.className = `badge ${kind}`;
  span.textContent = text;
  return span;
}

function button(label, onClick, { disabled = false, title = '', danger = false } = {}) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.disabled = disabled;
  if (title) b.title = title;
  if (danger) b.className = 'danger';
  b.addEventListener('click', onClick);
  return b;
}

function row(entry, source) {
  const params = entry.model_params || {};
  const tr = document.createElement('tr');
  tr.dataset.model = entry.model_name;
  const inheritance = document.createElement('td');
  inheritance.append(badge(source, source));
  if (entry._inherited_from) inheritance.append(badge(`extends ${entry._inherited_from}`, 'extends'));
  const actions = document.createElement('td');
  actions.className = 'row-actions';
  const locked = source !== 'added';
  const lockTitle = 'Config-loaded models cannot be modified';
  actions.append(
    button('Edit', () => openEditor(entry.model_name), { disabled: locked, title: locked ? lockTitle : '' }),
    button('Copy', () => copyModel(entry.model_name)),
    button('Derive', () => openEditor(null, entry.model_name)),
    button('Delete', () => deleteModel(entry.model_name), { disabled: locked, title: locked ? lockTitle : '', danger: true }),
  );
  tr.append(
    cell(entry.model_name, 'name'),
    cell(params.target_model || params.forward_model || params.model),
    cell(params.api_base, 'url'),
    cell(params.api_key ? params.api_key : 'none', 'secret'),
    inheritance,
    cell((state.fallbacks[entry.model_name] || []).join(', ')),
    actions,
  );
  return tr;
}

function emptyRow() {
  const td = cell('No models');
  td.colSpan = 7;
  td.className = 'empty';
  const tr = document.createElement('tr');
  tr.append(td);
  return tr;
}

function render(source, entries) {
  const rows = entries.length ? entries.map((e) => row(e, source)) : [emptyRow()];
  $(`list-${source}`).tBodies[0].replaceChildren(...rows);
  $(`count-${source}`).textContent = `(${entries.length})`;
}

async function refresh() {
  const [resolved, own] = await Promise.all([api('GET', '/admin/models'), api('GET', '/admin/models?resolve=false')]);
  state.fallbacks = resolved.fallbacks || {};
  state.own = new Map([...own.default, ...own.added].map((e) => [e.model_name, e]));
  render('added', resolved.added);
  render('default', resolved.default);
  const names = $('model-names');
  names.replaceChildren(...[...state.own.keys()].map((name) => Object.assign(document.createElement('option'), { value: name })));
}

function openEditor(name, base) {
  const form = $('model-form');
  form.reset();
  $('form-error').textContent = '';
  state.editing = name;
  const own = name ? state.own.get(name) : null;
  $('editor-title').textContent = name ? `Edit ${name}` : base ? `Derive from ${base}` : 'Add model';
  const f = form.elements;
  if (own) {
    const p = own.model_params || {};
    f.model_name.value = own.model_name;
    f.extends.value = own.extends || '';
    for (const key of ['api_base', 'model', 'target_model', 'request_timeout', 'api_type']) f[key].value = p[key] ?? '';
    f.supports_reasoning.value = p.supports_reasoning === undefined ? '' : String(p.supports_reasoning);
    f.parameters.value = own.parameters ? JSON.stringify(own.parameters, null, 2) : '';
    f.fallbacks.value = (state.fallbacks[name] || []).join(', ');
  } else if (base) {
    f.extends.value = base;
  }
  f.api_key.placeholder = own && own.model_params && own.model_params.api_key ? 'unchanged' : base ? 'inherited' : 'none';
  $('editor').showModal();
  f.model_name.focus();
}

function formPayload() {
  const f = $('model-form').elements;
  const own = state.editing ? state.own.get(state.editing) : null;
  // Start from what is stored so that keys the form does not show (headers, parsers...) survive.
  const params = { ...((own && own.model_params) || {}) };
  const text = (name) => f[name].value.trim();
  for (const key of ['api_base', 'model', 'target_model', 'api_type']) {
    if (text(key)) params[key] = text(key);
    else delete params[key];
  }
  if (text('request_timeout')) params.request_timeout = Number(text('request_timeout'));
  else delete params.request_timeout;
  if (text('supports_reasoning')) params.supports_reasoning = text('supports_reasoning') === 'true';
  else delete params.supports_reasoning;
  if (f.api_key.value) params.api_key = f.api_key.value;
  let parameters;
  if (text('parameters')) {
    try {
      parameters = JSON.parse(text('parameters'));
    } catch {
      throw new Error('Parameters must be valid JSON');
    }
  }
  const payload = { model_name: text('model_name'), model_params: params, config_scope: 'added' };
  if (text('extends')) payload.extends = text('extends');
  if (parameters !== undefined) payload.parameters = parameters;
  if (own && own.parsers) payload.parsers = own.parsers;
  payload.fallbacks = text('fallbacks').split(',').map((s) => s.trim()).filter(Boolean);
  return payload;
}

async function save(event) {
  event.preventDefault();
  try {
    const payload = formPayload();
    if (!payload.model_name) throw new Error('Name is required');
    const renamed = state.editing && state.editing !== payload.model_name;
    // A rename copies first, so a kept (masked) key still matches the stored one under the new name.
    if (renamed) await api('POST', `/admin/models/copy?${new URLSearchParams({ source: state.editing, target: payload.model_name })}`);
    const result = await api('POST', '/admin/models', payload);
    if (renamed) await api('DELETE', `/admin/models/${encodeURIComponent(state.editing)}`);
    $('editor').close();
    show(`${result.replaced ? 'Updated' : 'Added'} ${result.model}${warningText(result)}`, 'ok');
    await refresh();
  } catch (error) {
    $('form-error').textContent = error.message;
  }
}

function warningText(result) {
  return result.warnings && result.warnings.length ? ` (warnings: ${result.warnings.join('; ')})` : '';
}

async function copyModel(name) {
  const target = window.prompt(`Copy ${name} as:`, `${name}-copy`);
  if (!target) return;
  await act(async () => {
    const result = await api('POST', `/admin/models/copy?${new URLSearchParams({ source: name, target: target.trim() })}`);
    return result.message;
  });
}

async function deleteModel(name) {
  if (!window.confirm(`Delete ${name}?`)) return;
  await act(async () => (await api('DELETE', `/admin/models/${encodeURIComponent(name)}`)).message);
}

async function act(task) {
  try {
    show(await task(), 'ok');
    await refresh();
  } catch (error) {
    show(error.message, 'error');
  }
}

function init() {
  $('token').value = sessionStorage.getItem(TOKEN_KEY) || '';
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('token').value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    act(async () => 'Token set');
  });
  $('add').addEventListener('click', () => openEditor(null));
  $('cancel').addEventListener('click', () => $('editor').close());
  $('model-form').addEventListener('submit', save);
  $('reload').addEventListener('click', () =>
    act(async () => `Configuration reloaded (${(await api('POST', '/admin/config/reload')).models_count} models)`),
  );
  refresh().catch((error) => show(error.message, 'error'));
}

init();
