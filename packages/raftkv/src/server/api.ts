/**
 * What a raftkv member offers its client-facing front end (the HTTP API in http.ts). The
 * member (RaftKvServer in member.ts) implements it on top of Raft; keeping the contract here
 * lets the HTTP layer be tested through fastify's inject() without a cluster.
 */
import type {
  CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, KvErrorCode,
  LeaseGrantRequest, LeaseGrantResponse, LeaseRevokeRequest, LeaseRevokeResponse, PutRequest,
  PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse, WatchEvent,
} from '../kv/types.js';

export interface Member {
  /** Unique, non-zero; rendered as a decimal string in JSON like etcd's uint64 ids. */
  id: number;
  /** Empty until the member has started and published it (as etcd shows unstarted members). */
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export interface ClusterHeader {
  clusterId: number;
  memberId: number;
  revision: number;
  raftTerm: number;
}

export interface MemberStatus {
  header: ClusterHeader;
  version: string;
  /** Bytes of state-machine data (etcd's db_size). */
  dbSize: number;
  /** Member id of the current leader, 0 if none known. */
  leader: number;
  raftIndex: number;
  raftTerm: number;
  raftAppliedIndex: number;
  isLearner: boolean;
  errors: string[];
}

export interface LeaseTimeToLive {
  ID: number;
  /** Remaining seconds; -1 if the lease does not exist (etcd's convention). */
  TTL: number;
  grantedTTL: number;
  keys: Uint8Array[];
}

export interface WatchRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  startRevision?: number;
  prevKv?: boolean;
  filters?: ('noput' | 'nodelete')[];
}

export interface WatchSubscription {
  readonly id: number;
  cancel(): void;
}

/**
 * Error codes a client sees. KV codes come from the state machine; the rest from the member.
 * http.ts maps each to an HTTP status; the client library maps them back.
 */
export type RaftKvErrorCode =
  | KvErrorCode
  | 'NOT_LEADER' // this request must go to the leader (the error carries leaderClientURLs)
  | 'NO_LEADER' // the cluster has no leader right now; retry
  | 'TIMEOUT' // the request was proposed but did not apply in time (it may still apply)
  | 'LEADER_CHANGED' // the leader changed while the request was in flight (it may still apply)
  | 'STOPPING' // the member is shutting down
  | 'MEMBER_NOT_FOUND'
  | 'MEMBER_EXISTS'
  | 'LEARNER_NOT_READY' // promote refused: the learner is too far behind
  | 'UNHEALTHY' // a membership change would lose quorum
  | 'CONF_CHANGE_PENDING'
  | 'TOO_LARGE'; // request over the size limit

export class RaftKvError extends Error {
  readonly code: RaftKvErrorCode;
  readonly leaderClientURLs?: string[];
  readonly compactRevision?: number;
  constructor(code: RaftKvErrorCode, message: string, extra?: { leaderClientURLs?: string[]; compactRevision?: number }) {
    super(message);
    this.name = 'RaftKvError';
    this.code = code;
    if (extra?.leaderClientURLs) this.leaderClientURLs = extra.leaderClientURLs;
    if (extra?.compactRevision !== undefined) this.compactRevision = extra.compactRevision;
  }
}

export interface RaftKvApi {
  header(): ClusterHeader;

  // Writes: proposed through Raft; resolve once applied on this member. Any member accepts them.
  put(req: PutRequest, signal?: AbortSignal): Promise<PutResponse>;
  deleteRange(req: DeleteRangeRequest, signal?: AbortSignal): Promise<DeleteRangeResponse>;
  /** A txn with only reads is served as a read (linearizable), not proposed. */
  txn(req: TxnRequest, signal?: AbortSignal): Promise<TxnResponse>;
  compact(req: CompactionRequest, signal?: AbortSignal): Promise<CompactionResponse>;

  /** Linearizable by default (ReadIndex); `serializable` reads the local state at once. */
  range(req: RangeRequest, opts?: { serializable?: boolean; signal?: AbortSignal }): Promise<RangeResponse>;

  /** Events arrive in revision order; `onEvents` with an empty list is a progress notification.
   *  `onCancel` reports a watch the member had to end (e.g. it could not resume after a snapshot
   *  install because the revisions it needed were compacted). */
  watch(req: WatchRequest, onEvents: (events: WatchEvent[], revision: number) => void, onCancel?: (err: RaftKvError) => void): WatchSubscription;

  leaseGrant(req: LeaseGrantRequest, signal?: AbortSignal): Promise<LeaseGrantResponse>;
  leaseRevoke(req: LeaseRevokeRequest, signal?: AbortSignal): Promise<LeaseRevokeResponse>;
  /** Resets the lease's TTL. Leader-only (throws NOT_LEADER elsewhere; the HTTP layer forwards). */
  leaseKeepAlive(id: number): Promise<{ ID: number; TTL: number }>;
  /** Leader-only, like keep-alive: remaining TTL is known only to the leader. */
  leaseTimeToLive(id: number, keys: boolean): Promise<LeaseTimeToLive>;
  leaseLeases(): { ID: number }[];

  memberList(): Member[];
  /** Adds a learner; unless `isLearner`, the leader promotes it to voter once it has caught up. */
  memberAdd(peerURLs: string[], isLearner: boolean, signal?: AbortSignal): Promise<{ member: Member; members: Member[] }>;
  memberRemove(id: number, signal?: AbortSignal): Promise<Member[]>;
  memberPromote(id: number, signal?: AbortSignal): Promise<Member[]>;

  status(): MemberStatus;
  /**
   * The state machine's snapshot as of this call (what `snapshot save` writes and `--restore`
   * reads). Encoded a slice at a time, so a big store does not stall the member meanwhile.
   */
  snapshotBytes(): Promise<Uint8Array>;
  /** The leader's client URLs, for forwarding; empty if no leader is known. */
  leaderClientURLs(): string[];
  isLeader(): boolean;
}
