import { describe, expect, it } from '@jest/globals';
import {
  applyJsonPatch,
  applyMergePatch,
  createMergePatch,
  deepEqual,
  PatchError,
} from '../../src/kube/patchutil.js';

describe('patch utilities', () => {
  it('deepEqual treats undefined-valued keys as absent', () => {
    expect(deepEqual({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(deepEqual([1, { x: [2] }], [1, { x: [2] }])).toBe(true);
    expect(deepEqual([1], [1, 2])).toBe(false);
    expect(deepEqual({ a: null }, { a: undefined })).toBe(false);
  });

  it('applies RFC 7386 merge patches (RFC examples)', () => {
    expect(applyMergePatch({ a: 'b' }, { a: 'c' })).toEqual({ a: 'c' });
    expect(applyMergePatch({ a: 'b' }, { b: 'c' })).toEqual({ a: 'b', b: 'c' });
    expect(applyMergePatch({ a: 'b' }, { a: null })).toEqual({});
    expect(applyMergePatch({ a: [{ b: 'c' }] }, { a: [1] })).toEqual({ a: [1] });
    expect(applyMergePatch({ a: { b: 'c' } }, { a: { b: 'd', c: null } })).toEqual({ a: { b: 'd' } });
    expect(applyMergePatch([1, 2], { a: 'b', c: null })).toEqual({ a: 'b' });
  });

  it('creates merge patches that round-trip', () => {
    const from = { a: 1, b: { c: 2, d: 3 }, list: [1, 2], gone: 'x' };
    const to = { a: 1, b: { c: 5, d: 3 }, list: [1, 2, 3], added: true };
    const p = createMergePatch(from, to);
    expect(p).toEqual({ b: { c: 5 }, list: [1, 2, 3], gone: null, added: true });
    expect(applyMergePatch(from, p)).toEqual(to);
    expect(createMergePatch(to, to)).toBeUndefined();
  });

  it('applies RFC 6902 JSON patches, including test', () => {
    const doc = { metadata: { finalizers: ['a', 'b'], resourceVersion: '5' } };
    expect(
      applyJsonPatch(doc, [
        { op: 'test', path: '/metadata/resourceVersion', value: '5' },
        { op: 'remove', path: '/metadata/finalizers/0' },
        { op: 'add', path: '/metadata/finalizers/-', value: 'c' },
        { op: 'add', path: '/metadata/labels', value: { 'a/b': 'x' } },
        { op: 'replace', path: '/metadata/labels/a~1b', value: 'y' },
        { op: 'copy', from: '/metadata/labels', path: '/spec' },
        { op: 'move', from: '/spec', path: '/moved' },
      ]),
    ).toEqual({
      metadata: { finalizers: ['b', 'c'], resourceVersion: '5', labels: { 'a/b': 'y' } },
      moved: { 'a/b': 'y' },
    });
    expect(doc.metadata.finalizers).toEqual(['a', 'b']); // input untouched
    expect(() =>
      applyJsonPatch(doc, [{ op: 'test', path: '/metadata/resourceVersion', value: '4' }]),
    ).toThrow(PatchError);
    expect(() => applyJsonPatch(doc, [{ op: 'remove', path: '/nope' }])).toThrow(PatchError);
    expect(() => applyJsonPatch(doc, [{ op: 'replace', path: '/metadata/finalizers/9', value: 1 }])).toThrow(
      PatchError,
    );
  });
});
