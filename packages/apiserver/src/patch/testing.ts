/** Helpers for this folder's tests; not part of the public API (index.ts does not export them). */
import { PatchError } from './errors.js';

/** Freezing the inputs turns any mutation by a patcher into a TypeError (modules are strict). */
export function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

export function catchPatchError(f: () => unknown): PatchError {
  try {
    f();
  } catch (err) {
    if (err instanceof PatchError) return err;
    throw err;
  }
  throw new Error('expected a PatchError, nothing was thrown');
}
