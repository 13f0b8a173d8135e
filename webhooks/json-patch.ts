/**
 * The JSON Patch (RFC 6902) a mutating webhook returns, computed by diffing
 * the object before and after the pure defaulter (controller-runtime's
 * `PatchResponseFromRaw` does the same). Objects are diffed key by key;
 * an array that changed is replaced whole, which is always correct and keeps
 * the patch independent of how list items are matched.
 */
import { isDeepStrictEqual } from 'node:util';
import type { JsonPatchOp } from '../controllers/runtime/index.ts';
import { isObject } from './admission.ts';

export type { JsonPatchOp };

/** RFC 6901 reference token. */
const token = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');

/** Operations that turn `from` into `to`; empty when they are equal. Pure. */
export function diff(from: unknown, to: unknown, path = ''): JsonPatchOp[] {
  if (isDeepStrictEqual(from, to)) return [];
  if (!isObject(from) || !isObject(to)) return [{ op: 'replace', path, value: to }];
  const ops: JsonPatchOp[] = [];
  for (const key of Object.keys(from)) {
    if (!Object.hasOwn(to, key) || to[key] === undefined) {
      if (from[key] !== undefined) ops.push({ op: 'remove', path: `${path}/${token(key)}` });
    }
  }
  for (const [key, value] of Object.entries(to)) {
    if (value === undefined) continue;
    if (!Object.hasOwn(from, key) || from[key] === undefined) ops.push({ op: 'add', path: `${path}/${token(key)}`, value });
    else ops.push(...diff(from[key], value, `${path}/${token(key)}`));
  }
  return ops;
}

/**
 * Applies `add`, `remove` and `replace` operations to a copy of `doc` (enough
 * to check `diff` and to show what the API server will do). Throws a
 * TypeError for a path that does not exist.
 */
export function applyPatch(doc: unknown, ops: readonly JsonPatchOp[]): unknown {
  let root = structuredClone(doc);
  for (const op of ops) {
    if (op.path === '') {
      if (op.op === 'remove') throw new TypeError('cannot remove the whole document');
      root = structuredClone(op.value);
      continue;
    }
    const keys = op.path.slice(1).split('/').map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = keys.pop()!;
    let parent: unknown = root;
    for (const k of keys) {
      parent = Array.isArray(parent) ? parent[Number(k)] : isObject(parent) ? parent[k] : undefined;
      if (parent === undefined) throw new TypeError(`path ${op.path} does not exist`);
    }
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (op.op === 'add') parent.splice(i, 0, structuredClone(op.value));
      else if (op.op === 'remove') parent.splice(i, 1);
      else parent[i] = structuredClone(op.value);
    } else if (isObject(parent)) {
      if (op.op !== 'add' && !Object.hasOwn(parent, last)) throw new TypeError(`path ${op.path} does not exist`);
      if (op.op === 'remove') delete parent[last];
      // defineProperty, so that a key named __proto__ is data, as in JSON.
      else Object.defineProperty(parent, last, { value: structuredClone(op.value), writable: true, enumerable: true, configurable: true });
    } else {
      throw new TypeError(`path ${op.path} does not exist`);
    }
  }
  return root;
}
