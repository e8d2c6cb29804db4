// JSON value helpers shared by the status patcher and the in-memory fake: deep equality,
// RFC 7386 JSON merge patch (apply + create) and RFC 6902 JSON patch (apply).

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export class PatchError extends Error {
  override readonly name = 'PatchError';
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Structural equality of JSON values; a key whose value is undefined counts as absent. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => deepEqual(v, b[i]));
  }
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const ka = Object.keys(a).filter((k) => a[k] !== undefined);
  const kb = Object.keys(b).filter((k) => b[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
}

/** RFC 7386: objects merge recursively, null deletes, everything else (arrays too) replaces. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (v !== undefined) out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

/**
 * The merge patch that turns `from` into `to`: removed keys become null, objects recurse, arrays
 * and scalars are sent whole (merge patch cannot address list items). Returns undefined when equal.
 */
export function createMergePatch(from: unknown, to: unknown): unknown {
  if (deepEqual(from, to)) return undefined;
  if (!isPlainObject(from) || !isPlainObject(to)) return to === undefined ? null : structuredClone(to);
  const patch: Record<string, unknown> = {};
  for (const k of Object.keys(from)) {
    if (from[k] !== undefined && to[k] === undefined) patch[k] = null;
  }
  for (const [k, v] of Object.entries(to)) {
    if (v === undefined) continue;
    const d = createMergePatch(from[k], v);
    if (d !== undefined) patch[k] = d;
  }
  return patch;
}

export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`invalid JSON pointer "${pointer}"`);
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function container(doc: unknown, tokens: string[], path: string): unknown {
  let cur = doc;
  for (const t of tokens) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isPlainObject(cur) && Object.hasOwn(cur, t)) cur = cur[t];
    else throw new PatchError(`path "${path}" does not exist`);
    if (cur === undefined) throw new PatchError(`path "${path}" does not exist`);
  }
  return cur;
}

function arrayIndex(arr: unknown[], token: string, path: string, forAdd: boolean): number {
  if (forAdd && token === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new PatchError(`invalid array index in "${path}"`);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length))
    throw new PatchError(`index out of range in "${path}"`);
  return i;
}

function getAt(doc: unknown, path: string): unknown {
  return container(doc, parsePointer(path), path);
}

function removeAt(doc: unknown, path: string): unknown {
  const tokens = parsePointer(path);
  const last = tokens.pop();
  if (last === undefined) throw new PatchError('cannot remove the document root');
  const parent = container(doc, tokens, path);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, last, path, false), 1)[0];
  if (isPlainObject(parent) && Object.hasOwn(parent, last)) {
    const v = parent[last];
    delete parent[last];
    return v;
  }
  throw new PatchError(`path "${path}" does not exist`);
}

function addAt(doc: unknown, path: string, value: unknown, replace: boolean): unknown {
  const tokens = parsePointer(path);
  const last = tokens.pop();
  if (last === undefined) return value; // whole-document add/replace
  const parent = container(doc, tokens, path);
  if (Array.isArray(parent)) {
    const i = arrayIndex(parent, last, path, !replace);
    parent.splice(i, replace ? 1 : 0, value);
  } else if (isPlainObject(parent)) {
    if (replace && !Object.hasOwn(parent, last)) throw new PatchError(`path "${path}" does not exist`);
    parent[last] = value;
  } else {
    throw new PatchError(`parent of "${path}" is not a container`);
  }
  return doc;
}

/** RFC 6902 on a copy of `doc`; throws PatchError when an operation or `test` fails. */
export function applyJsonPatch(doc: unknown, ops: JsonPatchOp[]): unknown {
  if (!Array.isArray(ops)) throw new PatchError('JSON patch must be an array of operations');
  let out = structuredClone(doc);
  for (const op of ops) {
    switch (op.op) {
      case 'add':
        out = addAt(out, op.path, structuredClone(op.value), false);
        break;
      case 'replace':
        out = addAt(out, op.path, structuredClone(op.value), true);
        break;
      case 'remove':
        removeAt(out, op.path);
        break;
      case 'move': {
        const v = removeAt(out, op.from ?? '');
        out = addAt(out, op.path, v, false);
        break;
      }
      case 'copy':
        out = addAt(out, op.path, structuredClone(getAt(out, op.from ?? '')), false);
        break;
      case 'test':
        if (!deepEqual(getAt(out, op.path), op.value)) throw new PatchError(`test failed at "${op.path}"`);
        break;
      default:
        throw new PatchError(`unknown JSON patch op "${(op as { op: string }).op}"`);
    }
  }
  return out;
}
