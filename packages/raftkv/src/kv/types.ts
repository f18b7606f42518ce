/**
 * Request and response shapes of the key-value state machine, modelled on etcd v3's
 * (rpc.proto / kv.proto) so etcd users recognise them. Keys and values are raw bytes
 * (Uint8Array); the HTTP layer converts to/from base64 as etcd's JSON gateway does.
 *
 * Revisions are numbers: a cluster would need 2^53 writes to overflow one.
 */

export interface KeyValue {
  key: Uint8Array;
  /** Revision of the last creation of this key (0 when it does not exist). */
  createRevision: number;
  /** Revision of the last modification. */
  modRevision: number;
  /** Number of modifications since creation; a delete resets it to 0. */
  version: number;
  value: Uint8Array;
  /** Lease the key is attached to, or 0. */
  lease: number;
}

export interface ResponseHeader {
  /** The store's current revision when the request was served. */
  revision: number;
}

export type SortOrder = 'none' | 'ascend' | 'descend';
export type SortTarget = 'key' | 'version' | 'create' | 'mod' | 'value';

export interface RangeRequest {
  key: Uint8Array;
  /** Empty: only `key`. "\0" (one zero byte): every key >= key. Otherwise keys in [key, rangeEnd). */
  rangeEnd?: Uint8Array;
  /** 0: no limit. */
  limit?: number;
  /** 0 or absent: the current revision. A revision older than the compacted one fails with COMPACTED;
   *  one newer than the current fails with FUTURE_REV. */
  revision?: number;
  sortOrder?: SortOrder;
  sortTarget?: SortTarget;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

export interface RangeResponse {
  header: ResponseHeader;
  kvs: KeyValue[];
  /** True when `limit` cut the result short. */
  more: boolean;
  /** Number of keys in the range (ignoring limit). */
  count: number;
}

export interface PutRequest {
  key: Uint8Array;
  value: Uint8Array;
  lease?: number;
  prevKv?: boolean;
  /** Keep the current value / lease (etcd's ignore_value / ignore_lease). Fails with KEY_NOT_FOUND if absent. */
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

export interface PutResponse {
  header: ResponseHeader;
  prevKv?: KeyValue;
}

export interface DeleteRangeRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  prevKv?: boolean;
}

export interface DeleteRangeResponse {
  header: ResponseHeader;
  deleted: number;
  prevKvs: KeyValue[];
}

export type CompareTarget = 'version' | 'create' | 'mod' | 'value' | 'lease';
export type CompareResult = 'equal' | 'greater' | 'less' | 'not_equal';

export interface Compare {
  result: CompareResult;
  target: CompareTarget;
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  /** Exactly the field matching `target` is read. A missing key has version/create/mod/lease 0 and
   *  fails every value comparison (as etcd does). */
  version?: number;
  createRevision?: number;
  modRevision?: number;
  value?: Uint8Array;
  lease?: number;
}

export type RequestOp =
  | { requestRange: RangeRequest }
  | { requestPut: PutRequest }
  | { requestDeleteRange: DeleteRangeRequest }
  | { requestTxn: TxnRequest };

export type ResponseOp =
  | { responseRange: RangeResponse }
  | { responsePut: PutResponse }
  | { responseDeleteRange: DeleteRangeResponse }
  | { responseTxn: TxnResponse };

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

export interface TxnResponse {
  header: ResponseHeader;
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface CompactionRequest {
  revision: number;
}

export interface CompactionResponse {
  header: ResponseHeader;
}

export interface LeaseGrantRequest {
  /** Seconds. */
  TTL: number;
  /** 0: the store picks the next free id. */
  ID?: number;
}

export interface LeaseGrantResponse {
  header: ResponseHeader;
  ID: number;
  TTL: number;
}

export interface LeaseRevokeRequest {
  ID: number;
}

export interface LeaseRevokeResponse {
  header: ResponseHeader;
}

export interface LeaseInfo {
  ID: number;
  /** Granted TTL in seconds. */
  grantedTTL: number;
  keys: Uint8Array[];
}

/**
 * Everything that changes the state machine travels through the Raft log as one of these.
 * Reads never do (they use ReadIndex). Lease keep-alives never do either: remaining TTL lives
 * only in the leader's memory (a new leader restarts every lease's full TTL, as etcd does).
 */
export type KvCommand =
  | { op: 'put'; req: PutRequest }
  | { op: 'deleteRange'; req: DeleteRangeRequest }
  | { op: 'txn'; req: TxnRequest }
  | { op: 'compact'; req: CompactionRequest }
  | { op: 'leaseGrant'; req: LeaseGrantRequest }
  | { op: 'leaseRevoke'; req: LeaseRevokeRequest };

export type KvCommandResult =
  | PutResponse
  | DeleteRangeResponse
  | TxnResponse
  | CompactionResponse
  | LeaseGrantResponse
  | LeaseRevokeResponse;

export type EventType = 'PUT' | 'DELETE';

export interface WatchEvent {
  type: EventType;
  /** For DELETE: key, modRevision = the deleting revision, other fields zero/empty. */
  kv: KeyValue;
  prevKv?: KeyValue;
}

/** Error codes of the state machine. Callers match on `code`. */
export type KvErrorCode =
  | 'COMPACTED' // requested revision has been compacted
  | 'FUTURE_REV' // requested revision is newer than the current one
  | 'LEASE_NOT_FOUND'
  | 'LEASE_EXISTS'
  | 'KEY_NOT_FOUND' // ignoreValue/ignoreLease on a missing key
  | 'INVALID' // malformed request (empty key, duplicate keys in a txn, bad TTL, ...)
  | 'TOO_MANY_OPS'; // txn with more than 128 operations (etcd's default)

export class KvError extends Error {
  readonly code: KvErrorCode;
  /** For COMPACTED: the store's compacted revision. */
  readonly compactRevision?: number;
  constructor(code: KvErrorCode, message: string, compactRevision?: number) {
    super(message);
    this.name = 'KvError';
    this.code = code;
    if (compactRevision !== undefined) this.compactRevision = compactRevision;
  }
}

export type WatchFilter = 'noput' | 'nodelete';

export interface WatchRequest {
  key: Uint8Array;
  /** Same rules as RangeRequest.rangeEnd. */
  rangeEnd?: Uint8Array;
  /** 0 or absent: events after the current revision. Otherwise the first revision to report;
   *  one at or below the compacted revision fails with COMPACTED. */
  startRevision?: number;
  /** Attach the key's previous version to each event. */
  prevKv?: boolean;
  filters?: WatchFilter[];
}
