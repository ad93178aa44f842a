/**
 * Edits of YAML documents that touch only what changes, so comments, key order, anchors and
 * `${VAR}` placeholders elsewhere in the file survive an admin API write.
 */
import { isMap, isNode, isScalar, isSeq, type Document, type Node, type YAMLMap, type YAMLSeq } from 'yaml';
import { isPlainObject } from '../config/env.ts';

/** The document's top mapping, created when the file was empty. */
function top(doc: Document): YAMLMap {
  if (!isMap(doc.contents)) doc.contents = doc.createNode({}) as unknown as typeof doc.contents;
  return doc.contents as unknown as YAMLMap;
}

/** The sequence at `path` (mappings on the way are created), switched to block style. */
function seqAt(doc: Document, path: readonly string[]): YAMLSeq {
  let map = top(doc);
  for (const key of path.slice(0, -1)) {
    let next: unknown = map.get(key, true);
    if (!isMap(next)) map.set(key, (next = doc.createNode({})));
    map = next as YAMLMap;
  }
  const last = path[path.length - 1] ?? '';
  let seq: unknown = map.get(last, true);
  if (!isSeq(seq)) map.set(last, (seq = doc.createNode([])));
  if (!isSeq(seq)) throw new TypeError('expected a YAML sequence');
  // `model_list: []` would otherwise grow into one long flow line.
  seq.flow = false;
  return seq;
}

const nameOf = (item: unknown): unknown => (isMap(item) ? item.get('model_name') : undefined);

/** Index of the entry named `name` in `model_list`, or -1. */
export function findEntry(doc: Document, name: string): number {
  const list = top(doc).get('model_list', true);
  return isSeq(list) ? list.items.findIndex((item) => nameOf(item) === name) : -1;
}

/** Replaces the entry of the same name in place (keeping comments where values did not change) or appends it. */
export function upsertEntry(doc: Document, entry: Record<string, unknown> & { model_name: string }): boolean {
  const seq = seqAt(doc, ['model_list']);
  const index = seq.items.findIndex((item) => nameOf(item) === entry.model_name);
  if (index < 0) {
    seq.items.push(doc.createNode(entry));
    return false;
  }
  seq.items[index] = syncNode(doc, seq.items[index], entry);
  return true;
}

export function removeEntry(doc: Document, name: string): boolean {
  const index = findEntry(doc, name);
  if (index < 0) return false;
  const seq = top(doc).get('model_list', true) as unknown as YAMLSeq;
  seq.items.splice(index, 1);
  if (seq.items.length === 0) seq.flow = true;
  return true;
}

/** Drops every `router_settings.fallbacks` entry keyed by `name`; true if one existed. */
export function removeFallbacks(doc: Document, name: string): boolean {
  const router = top(doc).get('router_settings', true);
  const list = isMap(router) ? router.get('fallbacks', true) : undefined;
  if (!isSeq(list)) return false;
  let removed = false;
  list.items = list.items.filter((item) => {
    if (!isMap(item) || !item.has(name)) return true;
    removed = true;
    item.delete(name);
    return item.items.length > 0;
  });
  // An empty block sequence prints as a dangling `[]` on its own line.
  if (list.items.length === 0) list.flow = true;
  return removed;
}

/** The original's rewrite: entries keyed by `name` removed, `{name: targets}` appended unless empty. */
export function setFallbacks(doc: Document, name: string, targets: readonly string[]): void {
  removeFallbacks(doc, name);
  if (targets.length > 0) seqAt(doc, ['router_settings', 'fallbacks']).items.push(doc.createNode({ [name]: [...targets] }));
}

/** Rewrites the whole document to `value`, reusing every node whose place still exists. */
export function replaceDocument(doc: Document, value: Record<string, unknown>): void {
  doc.contents = syncNode(doc, doc.contents, value) as typeof doc.contents;
}

function keyOf(key: unknown): unknown {
  return isScalar(key) ? key.value : key;
}

function syncNode(doc: Document, node: unknown, value: unknown): Node {
  if (isMap(node) && isPlainObject(value)) {
    node.items = node.items.filter((pair) => Object.hasOwn(value, String(keyOf(pair.key))));
    for (const [key, item] of Object.entries(value)) {
      const pair = node.items.find((p) => keyOf(p.key) === key);
      if (pair) pair.value = syncNode(doc, pair.value, item);
      else node.items.push(doc.createPair(key, item));
    }
    return node;
  }
  if (isSeq(node) && Array.isArray(value)) {
    node.items = value.map((item, i) => (i < node.items.length ? syncNode(doc, node.items[i], item) : doc.createNode(item)));
    if (node.flow && value.some((item) => typeof item === 'object' && item !== null)) node.flow = false;
    return node;
  }
  if (isScalar(node) && (value === null || typeof value !== 'object')) {
    if (node.value !== value) node.value = value;
    return node;
  }
  const fresh = doc.createNode(value);
  if (isNode(node)) {
    fresh.commentBefore = node.commentBefore;
    fresh.comment = node.comment;
  }
  return fresh;
}
