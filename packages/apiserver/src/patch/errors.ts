/**
 * The one error type of the patch functions. Callers match on `code`, never on the message:
 * - INVALID_PATCH: the patch document itself is malformed, whatever it is applied to (not an
 *   array of operations, an unknown op, a bad JSON Pointer, an unknown `$patch` directive, a
 *   merge-list item without its merge key…). Kubernetes answers these with 400 BadRequest.
 * - TEST_FAILED: a JSON Patch `test` operation found a different value.
 * - CONFLICT: a well-formed JSON Patch does not fit this object: the path it removes, replaces,
 *   moves or copies from does not exist, or an array index is out of range (RFC 5789 calls this
 *   "conflicting state"). TEST_FAILED and CONFLICT are both "the object is not what the client
 *   assumed"; kube-apiserver answers them with 422, and a 409 would make `kubectl apply` retry.
 */
export type PatchErrorCode = 'INVALID_PATCH' | 'TEST_FAILED' | 'CONFLICT';

export class PatchError extends Error {
  readonly code: PatchErrorCode;
  /** JSON Pointer (RFC 6901) of the place in the object or patch the error is about. */
  readonly path: string;

  constructor(code: PatchErrorCode, path: string, message: string) {
    super(message);
    this.name = 'PatchError';
    this.code = code;
    this.path = path;
  }
}

export function isPatchError(err: unknown, code?: PatchErrorCode): err is PatchError {
  return err instanceof PatchError && (code === undefined || err.code === code);
}
