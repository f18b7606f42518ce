/**
 * The one error type of the durable storage layer. Callers match on `code`, never on messages:
 * - WAL_CORRUPT: the log on disk is damaged somewhere other than a torn tail; `file` and `offset`
 *   say where. Not repairable automatically: an operator must restore the member (or re-add it).
 * - WAL_FAILED: a write or fsync failed; what reached the disk is unknown, so the Wal refuses all
 *   further writes. The host should stop the process and let recovery replay the log.
 * - WAL_CLOSED: the Wal was used after close().
 * - WAL_INVALID: the caller broke the append contract (an index gap, a non-integer field). A bug.
 * - SNAPSHOT_CORRUPT: a snapshot's bytes fail their checksum or framing.
 */
export type WalErrorCode = 'WAL_CORRUPT' | 'WAL_FAILED' | 'WAL_CLOSED' | 'WAL_INVALID' | 'SNAPSHOT_CORRUPT';

export class WalError extends Error {
  readonly code: WalErrorCode;
  /** The damaged file (WAL_CORRUPT, SNAPSHOT_CORRUPT from a file). */
  readonly file?: string;
  /** Byte offset in `file` of the first bad record (WAL_CORRUPT). */
  readonly offset?: number;

  constructor(code: WalErrorCode, message: string, extra: { file?: string; offset?: number; cause?: unknown } = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'WalError';
    this.code = code;
    if (extra.file !== undefined) this.file = extra.file;
    if (extra.offset !== undefined) this.offset = extra.offset;
  }
}

export function isWalError(err: unknown, code?: WalErrorCode): err is WalError {
  return err instanceof WalError && (code === undefined || err.code === code);
}

export function corrupt(file: string, offset: number, reason: string): WalError {
  return new WalError('WAL_CORRUPT', `WAL corrupt: ${file} at byte offset ${offset}: ${reason}`, { file, offset });
}
