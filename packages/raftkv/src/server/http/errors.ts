/**
 * The HTTP API's error catalogue: each RaftKvErrorCode, its HTTP status and the gRPC code etcd
 * would return for it. The body is
 *   {"error": message, "code": <grpc code>, "message": message, "reason": <RaftKvErrorCode>,
 *    "compact_revision"?: "<n>", "leader_client_urls"?: [...]}
 * The client maps `reason` back to a RaftKvError (falling back on the status when absent).
 */
import type { RaftKvErrorCode } from '../api.js';
import { RaftKvError } from '../api.js';
import { KvError } from '../../kv/types.js';

/** gRPC status codes (google.golang.org/grpc/codes) used by etcd's gateway. */
export const GRPC = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  RESOURCE_EXHAUSTED: 8,
  OUT_OF_RANGE: 11,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

export const ERROR_CATALOGUE: Readonly<Record<RaftKvErrorCode, { status: number; grpc: number }>> = {
  INVALID: { status: 400, grpc: GRPC.INVALID_ARGUMENT },
  TOO_MANY_OPS: { status: 400, grpc: GRPC.INVALID_ARGUMENT },
  KEY_NOT_FOUND: { status: 400, grpc: GRPC.INVALID_ARGUMENT },
  COMPACTED: { status: 400, grpc: GRPC.OUT_OF_RANGE },
  FUTURE_REV: { status: 400, grpc: GRPC.OUT_OF_RANGE },
  LEASE_NOT_FOUND: { status: 404, grpc: GRPC.NOT_FOUND },
  MEMBER_NOT_FOUND: { status: 404, grpc: GRPC.NOT_FOUND },
  LEASE_EXISTS: { status: 409, grpc: GRPC.ALREADY_EXISTS },
  MEMBER_EXISTS: { status: 409, grpc: GRPC.ALREADY_EXISTS },
  NOT_LEADER: { status: 503, grpc: GRPC.UNAVAILABLE },
  NO_LEADER: { status: 503, grpc: GRPC.UNAVAILABLE },
  STOPPING: { status: 503, grpc: GRPC.UNAVAILABLE },
  UNHEALTHY: { status: 503, grpc: GRPC.UNAVAILABLE },
  CONF_CHANGE_PENDING: { status: 503, grpc: GRPC.UNAVAILABLE },
  LEARNER_NOT_READY: { status: 503, grpc: GRPC.UNAVAILABLE },
  TIMEOUT: { status: 504, grpc: GRPC.DEADLINE_EXCEEDED },
  LEADER_CHANGED: { status: 503, grpc: GRPC.UNAVAILABLE },
  TOO_LARGE: { status: 413, grpc: GRPC.RESOURCE_EXHAUSTED },
};

/** etcd's messages for the two revision errors (clients match on them). */
export const COMPACTED_MESSAGE = 'mvcc: required revision has been compacted';
export const FUTURE_REV_MESSAGE = 'mvcc: required revision is a future revision';

export interface HttpError {
  status: number;
  body: {
    error: string;
    code: number;
    message: string;
    reason: RaftKvErrorCode;
    compact_revision?: string;
    leader_client_urls?: string[];
  };
}

export function isKnownCode(code: unknown): code is RaftKvErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CATALOGUE, code);
}

/** A RaftKvError or the store's KvError (or one from a second copy of either module). */
export function asApiError(err: unknown): (RaftKvError | KvError) | undefined {
  if (err instanceof RaftKvError || err instanceof KvError) return err;
  if (err instanceof Error && (err.name === 'RaftKvError' || err.name === 'KvError') && isKnownCode((err as { code?: unknown }).code)) {
    return err as RaftKvError;
  }
  return undefined;
}

export function httpError(code: RaftKvErrorCode, message: string, extra?: { compactRevision?: number; leaderClientURLs?: string[] }): HttpError {
  const c = ERROR_CATALOGUE[code];
  let msg = message;
  if (code === 'COMPACTED') msg = COMPACTED_MESSAGE;
  else if (code === 'FUTURE_REV') msg = FUTURE_REV_MESSAGE;
  const body: HttpError['body'] = { error: msg, code: c.grpc, message: msg, reason: code };
  if (extra?.compactRevision !== undefined) body.compact_revision = String(extra.compactRevision);
  if (extra?.leaderClientURLs !== undefined && extra.leaderClientURLs.length > 0) body.leader_client_urls = extra.leaderClientURLs;
  // Keep the member's detail for the revision errors, which etcd words generically.
  if (msg !== message) body.error = `${msg} (${message})`;
  return { status: c.status, body };
}

export function fromApiError(err: RaftKvError | KvError): HttpError {
  const extra: { compactRevision?: number; leaderClientURLs?: string[] } = {};
  if (err.compactRevision !== undefined) extra.compactRevision = err.compactRevision;
  const urls = (err as RaftKvError).leaderClientURLs;
  if (urls !== undefined) extra.leaderClientURLs = urls;
  return httpError(err.code, err.message, extra);
}
