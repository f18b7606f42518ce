/**
 * PATCH bodies by content type (kubectl sends all three, kubectl-wire.md §5 and §8): JSON Patch,
 * JSON merge patch and strategic merge patch, the last driven by the kind's declarative schema in
 * the registry. A patch that cannot apply is a 422, named
 * by the patch path (400 when the patch itself is malformed); the merged object is then
 * validated like any update.
 */
import { ApiError, badRequest, isObject, unsupportedMediaType, type KubeObject } from '@flotilla/api';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, genericPatchSchema, isPatchError, type JsonValue } from '../patch/index.js';
import type { ResourceDef } from '../registry/types.js';

export const PATCH_CONTENT_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
] as const;

/** `part` names what is being patched: the whole object, its status, or its Scale. */
export function applyPatch(def: ResourceDef, current: KubeObject, contentType: string, body: unknown, part: 'main' | 'status' | 'scale'): KubeObject {
  if (body === undefined) throw badRequest('the patch body is empty');
  let out: JsonValue;
  try {
    const doc = current as unknown as JsonValue;
    switch (contentType) {
      case 'application/json-patch+json':
        out = applyJsonPatch(doc, body);
        break;
      case 'application/merge-patch+json':
        out = applyMergePatch(doc, body as JsonValue);
        break;
      case 'application/strategic-merge-patch+json':
        out = applyStrategicMergePatch(doc, body as JsonValue, part === 'scale' ? genericPatchSchema : (def.patchSchema ?? genericPatchSchema));
        break;
      default:
        throw unsupportedMediaType(contentType);
    }
  } catch (err) {
    if (isPatchError(err)) {
      // A malformed patch is the client's syntax error; one that does not fit this object (a
      // failed `test`, a missing path) is unprocessable. Never 409: kubectl retries those.
      if (err.code === 'INVALID_PATCH') throw badRequest(`the patch is invalid: ${err.message}`);
      throw new ApiError(422, 'Invalid', `the patch could not be applied: ${err.message}`);
    }
    throw err;
  }
  if (!isObject(out) || !isObject(out.metadata)) throw new ApiError(422, 'Invalid', 'the patch would leave an object without metadata');
  return out as unknown as KubeObject;
}
