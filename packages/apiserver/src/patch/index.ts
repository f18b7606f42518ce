/**
 * The three PATCH flavours of the Kubernetes API, as pure functions over plain JSON: the REST
 * layer picks one by Content-Type, applies it to the stored object, then validates and stores
 * the result like an update. Each throws PatchError (matched by `code`) on a patch it cannot apply.
 *
 *   application/json-patch+json           → applyJsonPatch (RFC 6902)
 *   application/merge-patch+json          → applyMergePatch (RFC 7386)
 *   application/strategic-merge-patch+json → applyStrategicMergePatch with the kind's PatchSchema
 */
export type { JsonObject, JsonValue } from './json.js';
export { canonicalJson } from './json.js';
export { PatchError, isPatchError } from './errors.js';
export type { PatchErrorCode } from './errors.js';
export { applyJsonPatch, parseJsonPatch } from './json-patch.js';
export type { JsonPatchOperation } from './json-patch.js';
export { applyMergePatch } from './merge-patch.js';
export { applyStrategicMergePatch } from './strategic-merge.js';
export type { PatchSchema } from './strategic-merge.js';
export {
  deploymentPatchSchema,
  genericPatchSchema,
  nodePatchSchema,
  objectMetaPatchSchema,
  podPatchSchema,
  podSpecPatchSchema,
  podTemplatePatchSchema,
  replicaSetPatchSchema,
  resourcePatchSchema,
  servicePatchSchema,
} from './schemas.js';
