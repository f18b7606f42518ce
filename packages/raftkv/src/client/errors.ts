/**
 * Errors of the client: always a RaftKvError (server/api.ts) whose `code` is the server's
 * `reason`, or, for transport failures, one of:
 * - NO_LEADER — no endpoint could be reached before the request was sent (it was not applied);
 * - TIMEOUT   — the request was sent but no answer came (timeout, connection reset): it may or
 *               may not have been applied.
 * The transport error is kept as `cause` (with its `code`, e.g. ECONNREFUSED, UND_ERR_SOCKET).
 */
import type { RaftKvErrorCode } from '../server/api.js';
import { RaftKvError } from '../server/api.js';
import { isKnownCode } from '../server/http/errors.js';

export { RaftKvError };
export type { RaftKvErrorCode };

export function errorCode(err: unknown): RaftKvErrorCode | undefined {
  if (err instanceof RaftKvError) return err.code;
  if (err instanceof Error && isKnownCode((err as { code?: unknown }).code)) return (err as RaftKvError).code;
  return undefined;
}

function is(err: unknown, ...codes: RaftKvErrorCode[]): err is RaftKvError {
  const c = errorCode(err);
  return c !== undefined && codes.includes(c);
}

export const isNotLeader = (err: unknown): err is RaftKvError => is(err, 'NOT_LEADER');
export const isNoLeader = (err: unknown): err is RaftKvError => is(err, 'NO_LEADER');
/** Transient unavailability: the request was not applied; retrying is safe. */
export const isUnavailable = (err: unknown): err is RaftKvError => is(err, 'NOT_LEADER', 'NO_LEADER', 'STOPPING');
export const isCompacted = (err: unknown): err is RaftKvError => is(err, 'COMPACTED');
export const isFutureRev = (err: unknown): err is RaftKvError => is(err, 'FUTURE_REV');
export const isNotFound = (err: unknown): err is RaftKvError => is(err, 'KEY_NOT_FOUND', 'LEASE_NOT_FOUND', 'MEMBER_NOT_FOUND');
export const isLeaseNotFound = (err: unknown): err is RaftKvError => is(err, 'LEASE_NOT_FOUND');
export const isMemberNotFound = (err: unknown): err is RaftKvError => is(err, 'MEMBER_NOT_FOUND');
export const isAlreadyExists = (err: unknown): err is RaftKvError => is(err, 'LEASE_EXISTS', 'MEMBER_EXISTS');
/** The outcome is unknown: the request may still be applied. */
export const isTimeout = (err: unknown): err is RaftKvError => is(err, 'TIMEOUT');
export const isInvalid = (err: unknown): err is RaftKvError => is(err, 'INVALID', 'TOO_MANY_OPS');
export const isTooLarge = (err: unknown): err is RaftKvError => is(err, 'TOO_LARGE');

function statusCode(status: number): RaftKvErrorCode {
  if (status === 413) return 'TOO_LARGE';
  if (status === 503) return 'NO_LEADER';
  if (status === 504 || status >= 500) return 'TIMEOUT';
  return 'INVALID';
}

/** The RaftKvError an error response stands for (the body is the server's JSON, or anything). */
export function errorFromResponse(status: number, text: string): RaftKvError {
  let j: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null) j = parsed as Record<string, unknown>;
  } catch {
    // not JSON: fall back on the status
  }
  const reason = j?.reason;
  const code = isKnownCode(reason) ? reason : statusCode(status);
  let message = `HTTP ${status}`;
  if (typeof j?.error === 'string') message = j.error;
  else if (typeof j?.message === 'string') message = j.message;
  else if (j === undefined && text.length > 0) message = `HTTP ${status}: ${text.slice(0, 200)}`;
  const extra: { compactRevision?: number; leaderClientURLs?: string[] } = {};
  if (j?.compact_revision !== undefined) extra.compactRevision = Number(j.compact_revision);
  if (Array.isArray(j?.leader_client_urls)) extra.leaderClientURLs = (j.leader_client_urls as unknown[]).map(String);
  return new RaftKvError(code, message, extra);
}

const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);

/** The transport code of an undici/node error (looking into AggregateError from happy eyeballs). */
export function transportCode(err: unknown): string {
  const e = err as { code?: unknown; errors?: unknown[]; name?: unknown };
  if (typeof e?.code === 'string') return e.code;
  if (Array.isArray(e?.errors) && e.errors.length > 0) return transportCode(e.errors[0]);
  return typeof e?.name === 'string' ? e.name : 'UNKNOWN';
}

/** Whether a transport error happened before the request could reach the server. */
export function notSent(err: unknown): boolean {
  return NOT_SENT.has(transportCode(err));
}

export function transportError(err: unknown, endpoint: string, sent: boolean): RaftKvError {
  const code = transportCode(err);
  const detail = err instanceof Error ? err.message : String(err);
  const e = sent
    ? new RaftKvError('TIMEOUT', `request to ${endpoint} failed after it was sent (${code}: ${detail}); it may or may not have been applied`)
    : new RaftKvError('NO_LEADER', `cannot reach ${endpoint} (${code}: ${detail})`);
  e.cause = err;
  return e;
}
