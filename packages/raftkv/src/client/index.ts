/**
 * The raftkv client (package export "@flotilla/raftkv/client"): RaftKvClient over the etcd v3
 * JSON HTTP API, its error helpers, and the request/response types it speaks.
 */
export { RaftKvClient, toBytes } from './client.js';
export type { Bytes, DeleteOptions, GetOptions, PutOptions, RaftKvClientOptions, WithHeader } from './client.js';
export type { WatchHandle, WatchOptions } from './watch.js';
export {
  errorCode,
  errorFromResponse,
  isAlreadyExists,
  isCompacted,
  isFutureRev,
  isInvalid,
  isLeaseNotFound,
  isMemberNotFound,
  isNoLeader,
  isNotFound,
  isNotLeader,
  isTimeout,
  isTooLarge,
  isUnavailable,
  RaftKvError,
} from './errors.js';
export type { RaftKvErrorCode } from './errors.js';
export type { ClusterHeader, LeaseTimeToLive, Member, MemberStatus } from '../server/api.js';
export type {
  Compare,
  CompareResult,
  CompareTarget,
  DeleteRangeResponse,
  EventType,
  KeyValue,
  LeaseGrantResponse,
  LeaseRevokeResponse,
  PutResponse,
  RangeResponse,
  RequestOp,
  ResponseOp,
  SortOrder,
  SortTarget,
  TxnRequest,
  TxnResponse,
  WatchEvent,
  WatchFilter,
} from '../kv/types.js';
export { prefixEnd } from '../kv/keys.js';
/** JSON-gateway encoders, for tools that print responses as the server sends them (etcdctl -w json). */
export * as gateway from '../server/http/wire.js';
