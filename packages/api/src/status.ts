/**
 * The one error type of the Kubernetes API boundary: ApiError carries the meta/v1 Status that is
 * sent to the client, with the HTTP code and a reason that clients match on (kubectl prints
 * "Error from server (<reason>): <message>"). Builders below produce the messages in the form
 * Kubernetes users know, e.g. `pods "web" not found`.
 */
import type { Status, StatusCause, StatusDetails, StatusReason } from './meta.js';

export class ApiError extends Error {
  readonly status: Status;
  constructor(code: number, reason: StatusReason | undefined, message: string, details?: StatusDetails) {
    super(message);
    this.name = 'ApiError';
    this.status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, code };
    if (reason !== undefined) this.status.reason = reason;
    if (details !== undefined) this.status.details = details;
  }

  get code(): number {
    return this.status.code;
  }

  get reason(): StatusReason | undefined {
    return this.status.reason;
  }
}

/** What an error names: the resource (plural, with group for non-core: "deployments.apps") and object. */
export interface Subject {
  /** Plural resource, e.g. "pods". */
  resource: string;
  /** API group, "" for core. */
  group: string;
  name?: string;
}

function qualified(s: Subject): string {
  return s.group === '' ? s.resource : `${s.resource}.${s.group}`;
}

function details(s: Subject, extra?: Partial<StatusDetails>): StatusDetails {
  const d: StatusDetails = { group: s.group, kind: s.resource };
  if (s.name !== undefined) d.name = s.name;
  return { ...d, ...extra };
}

export function notFound(s: Subject): ApiError {
  return new ApiError(404, 'NotFound', `${qualified(s)} "${s.name ?? ''}" not found`, details(s));
}

export function alreadyExists(s: Subject): ApiError {
  return new ApiError(409, 'AlreadyExists', `${qualified(s)} "${s.name ?? ''}" already exists`, details(s));
}

/** Optimistic concurrency lost: the object changed since the client read it. */
export function conflict(s: Subject, why: string): ApiError {
  return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(s)} "${s.name ?? ''}": ${why}`, details(s));
}

/** 422 with one cause per field, printed by kubectl as `The Pod "web" is invalid: <causes>`. */
export function invalid(kind: string, s: Subject, causes: StatusCause[]): ApiError {
  const list = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  const text = list.length === 1 ? list[0] : `[${list.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${kind} "${s.name ?? ''}" is invalid: ${text}`, { ...details(s), kind, causes });
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export function unauthorized(message = 'Unauthorized'): ApiError {
  return new ApiError(401, 'Unauthorized', message);
}

export function forbidden(message: string, s?: Subject): ApiError {
  return new ApiError(403, 'Forbidden', message, s ? details(s) : undefined);
}

export function methodNotAllowed(message: string): ApiError {
  return new ApiError(405, 'MethodNotAllowed', message);
}

export function notAcceptable(message: string): ApiError {
  return new ApiError(406, 'NotAcceptable', message);
}

/** A watch or list from a resourceVersion that raftkv has compacted away. */
export function gone(message: string): ApiError {
  return new ApiError(410, 'Expired', message);
}

export function tooLarge(message: string): ApiError {
  return new ApiError(413, 'RequestEntityTooLarge', message);
}

export function unsupportedMediaType(contentType: string): ApiError {
  return new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got ${JSON.stringify(contentType)})`);
}

export function internalError(message: string): ApiError {
  return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`);
}

export function unavailable(message: string): ApiError {
  return new ApiError(503, 'ServiceUnavailable', message);
}

export function timeout(message: string): ApiError {
  return new ApiError(504, 'Timeout', message);
}

/** Field error helpers, as validation reports them (one StatusCause each). */
export const fieldError = {
  required: (field: string, detail = 'Required value'): StatusCause => ({ reason: 'FieldValueRequired', message: detail, field }),
  invalid: (field: string, value: unknown, detail: string): StatusCause => ({
    reason: 'FieldValueInvalid',
    message: `Invalid value: ${JSON.stringify(value)}: ${detail}`,
    field,
  }),
  notSupported: (field: string, value: unknown, allowed: readonly string[]): StatusCause => ({
    reason: 'FieldValueNotSupported',
    message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed.map((a) => `"${a}"`).join(', ')}`,
    field,
  }),
  duplicate: (field: string, value: unknown): StatusCause => ({ reason: 'FieldValueDuplicate', message: `Duplicate value: ${JSON.stringify(value)}`, field }),
  forbidden: (field: string, detail: string): StatusCause => ({ reason: 'FieldValueForbidden', message: `Forbidden: ${detail}`, field }),
  tooLong: (field: string, max: number): StatusCause => ({ reason: 'FieldValueTooLong', message: `Too long: must have at most ${max} bytes`, field }),
  immutable: (field: string): StatusCause => ({ reason: 'FieldValueInvalid', message: 'field is immutable', field }),
};

export const isNotFound = (err: unknown): boolean => err instanceof ApiError && err.code === 404;
export const isConflict = (err: unknown): boolean => err instanceof ApiError && err.code === 409 && err.reason === 'Conflict';
export const isAlreadyExists = (err: unknown): boolean => err instanceof ApiError && err.reason === 'AlreadyExists';
export const isGone = (err: unknown): boolean => err instanceof ApiError && err.code === 410;
