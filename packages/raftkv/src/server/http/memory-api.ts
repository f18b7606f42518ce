/**
 * A test double of RaftKvApi: one member, no Raft, backed directly by a KvStore. Writes apply
 * at once; leases never expire on their own (their remaining TTL is computed from `now`).
 * Knobs let tests play a follower (`leader = false`: leader-only calls throw NOT_LEADER and
 * `leaderURLs` says where the leader is) or a member without a leader (`noLeader = true`), and
 * inject a failure into the next call (`failNext`).
 *
 * For HTTP-layer, client and CLI tests; not a member implementation.
 */
import { KvStore } from '../../kv/store.js';
import type {
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KvCommand,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
  WatchEvent,
} from '../../kv/types.js';
import { KvError } from '../../kv/types.js';
import type { ClusterHeader, LeaseTimeToLive, Member, MemberStatus, RaftKvApi, WatchRequest, WatchSubscription } from '../api.js';
import { RaftKvError } from '../api.js';

export interface MemoryKvApiOptions {
  store?: KvStore;
  clusterId?: number;
  memberId?: number;
  name?: string;
  clientURLs?: string[];
  peerURLs?: string[];
  /** Clock for lease TTLs, ms. Default Date.now. */
  now?: () => number;
}

export class MemoryKvApi implements RaftKvApi {
  readonly store: KvStore;
  readonly clusterId: number;
  readonly memberId: number;
  raftTerm = 2;
  /** false: this member is a follower (leader-only calls throw NOT_LEADER). */
  leader = true;
  /** true: no leader known (status().leader === 0, writes throw NO_LEADER). */
  noLeader = false;
  /** Answer of leaderClientURLs() while `leader` is false. */
  leaderURLs: string[] = [];
  /** Thrown (once) by the next call of the named method. */
  failNext: Partial<Record<keyof RaftKvApi, Error>> = {};
  private readonly members: Member[];
  private nextMemberId: number;
  private readonly now: () => number;
  /** Lease id → expiry time, ms. */
  private readonly leaseDeadline = new Map<number, number>();

  constructor(opts: MemoryKvApiOptions = {}) {
    this.store = opts.store ?? new KvStore();
    this.clusterId = opts.clusterId ?? 0x1000;
    this.memberId = opts.memberId ?? 0x8e9e05c5;
    this.now = opts.now ?? Date.now;
    this.members = [
      {
        id: this.memberId,
        name: opts.name ?? 'default',
        peerURLs: opts.peerURLs ?? ['http://127.0.0.1:2380'],
        clientURLs: opts.clientURLs ?? ['http://127.0.0.1:2379'],
        isLearner: false,
      },
    ];
    this.nextMemberId = this.memberId + 1;
  }

  /** Sets this member's advertised client URLs (known only once the test server listens). */
  setClientURLs(urls: string[]): void {
    this.members[0].clientURLs = [...urls];
  }

  private check(method: keyof RaftKvApi): void {
    const err = this.failNext[method];
    if (err !== undefined) {
      delete this.failNext[method];
      throw err;
    }
  }

  private checkWrite(method: keyof RaftKvApi): void {
    this.check(method);
    if (this.noLeader) throw new RaftKvError('NO_LEADER', 'etcdserver: no leader');
  }

  private apply<T>(cmd: KvCommand): T {
    const r = this.store.apply(cmd);
    if (r instanceof KvError) throw toApiError(r);
    return r as T;
  }

  header(): ClusterHeader {
    return { clusterId: this.clusterId, memberId: this.memberId, revision: this.store.revision, raftTerm: this.raftTerm };
  }

  async put(req: PutRequest): Promise<PutResponse> {
    this.checkWrite('put');
    return this.apply<PutResponse>({ op: 'put', req });
  }

  async deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    this.checkWrite('deleteRange');
    return this.apply<DeleteRangeResponse>({ op: 'deleteRange', req });
  }

  async txn(req: TxnRequest): Promise<TxnResponse> {
    this.checkWrite('txn');
    return this.apply<TxnResponse>({ op: 'txn', req });
  }

  async compact(req: CompactionRequest): Promise<CompactionResponse> {
    this.checkWrite('compact');
    return this.apply<CompactionResponse>({ op: 'compact', req: { revision: req.revision } });
  }

  async range(req: RangeRequest, opts?: { serializable?: boolean }): Promise<RangeResponse> {
    this.check('range');
    if (this.noLeader && opts?.serializable !== true) throw new RaftKvError('NO_LEADER', 'etcdserver: no leader');
    try {
      return this.store.range(req);
    } catch (err) {
      if (err instanceof KvError) throw toApiError(err);
      throw err;
    }
  }

  /** Live watches' onCancel, by subscription id: `cancelWatches` ends them as a member would. */
  private readonly watchCancels = new Map<number, { handle: WatchSubscription; onCancel: ((err: RaftKvError) => void) | undefined }>();

  watch(req: WatchRequest, onEvents: (events: WatchEvent[], revision: number) => void, onCancel?: (err: RaftKvError) => void): WatchSubscription {
    this.check('watch');
    const h = this.store.watch(req, onEvents);
    if (h instanceof KvError) throw toApiError(h);
    this.watchCancels.set(h.id, { handle: h, onCancel });
    return {
      id: h.id,
      cancel: () => {
        this.watchCancels.delete(h.id);
        h.cancel();
      },
    };
  }

  /** Ends every watch with `err`, as a member does when a watch cannot continue. */
  cancelWatches(err: RaftKvError): void {
    for (const [id, w] of [...this.watchCancels]) {
      this.watchCancels.delete(id);
      w.handle.cancel();
      w.onCancel?.(err);
    }
  }

  async leaseGrant(req: LeaseGrantRequest): Promise<LeaseGrantResponse> {
    this.checkWrite('leaseGrant');
    const r = this.apply<LeaseGrantResponse>({ op: 'leaseGrant', req });
    this.leaseDeadline.set(r.ID, this.now() + r.TTL * 1000);
    return r;
  }

  async leaseRevoke(req: LeaseRevokeRequest): Promise<LeaseRevokeResponse> {
    this.checkWrite('leaseRevoke');
    const r = this.apply<LeaseRevokeResponse>({ op: 'leaseRevoke', req });
    this.leaseDeadline.delete(req.ID);
    return r;
  }

  async leaseKeepAlive(id: number): Promise<{ ID: number; TTL: number }> {
    this.check('leaseKeepAlive');
    this.leaderOnly();
    const l = this.store.lease(id);
    if (l === undefined) throw new RaftKvError('LEASE_NOT_FOUND', `etcdserver: requested lease not found (${id})`);
    this.leaseDeadline.set(id, this.now() + l.grantedTTL * 1000);
    return { ID: id, TTL: l.grantedTTL };
  }

  async leaseTimeToLive(id: number, keys: boolean): Promise<LeaseTimeToLive> {
    this.check('leaseTimeToLive');
    this.leaderOnly();
    const l = this.store.lease(id);
    if (l === undefined) return { ID: id, TTL: -1, grantedTTL: 0, keys: [] };
    const left = Math.max(0, Math.ceil(((this.leaseDeadline.get(id) ?? this.now()) - this.now()) / 1000));
    return { ID: id, TTL: left, grantedTTL: l.grantedTTL, keys: keys ? l.keys : [] };
  }

  leaseLeases(): { ID: number }[] {
    this.check('leaseLeases');
    return this.store.leases().map((l) => ({ ID: l.ID }));
  }

  memberList(): Member[] {
    this.check('memberList');
    return this.members.map((m) => ({ ...m }));
  }

  async memberAdd(peerURLs: string[], isLearner: boolean): Promise<{ member: Member; members: Member[] }> {
    this.checkWrite('memberAdd');
    for (const m of this.members) {
      if (m.peerURLs.some((u) => peerURLs.includes(u))) throw new RaftKvError('MEMBER_EXISTS', 'etcdserver: Peer URLs already exists');
    }
    const member: Member = { id: this.nextMemberId++, name: '', peerURLs: [...peerURLs], clientURLs: [], isLearner };
    this.members.push(member);
    return { member: { ...member }, members: this.memberList() };
  }

  async memberRemove(id: number): Promise<Member[]> {
    this.checkWrite('memberRemove');
    const i = this.members.findIndex((m) => m.id === id);
    if (i < 0) throw new RaftKvError('MEMBER_NOT_FOUND', 'etcdserver: member not found');
    this.members.splice(i, 1);
    return this.memberList();
  }

  async memberPromote(id: number): Promise<Member[]> {
    this.checkWrite('memberPromote');
    const m = this.members.find((x) => x.id === id);
    if (m === undefined) throw new RaftKvError('MEMBER_NOT_FOUND', 'etcdserver: member not found');
    if (!m.isLearner) throw new RaftKvError('INVALID', 'etcdserver: can only promote a learner member');
    m.isLearner = false;
    return this.memberList();
  }

  status(): MemberStatus {
    this.check('status');
    const leader = this.noLeader ? 0 : this.leader ? this.memberId : this.memberId + 0x1000;
    return {
      header: this.header(),
      version: '3.5.0',
      dbSize: this.store.sizeBytes(),
      leader,
      raftIndex: this.store.revision + 10,
      raftTerm: this.raftTerm,
      raftAppliedIndex: this.store.revision + 10,
      isLearner: false,
      errors: [],
    };
  }

  snapshotBytes(): Promise<Uint8Array> {
    this.check('snapshotBytes');
    return Promise.resolve(this.store.snapshot());
  }

  leaderClientURLs(): string[] {
    if (this.noLeader) return [];
    return this.leader ? this.members[0].clientURLs : this.leaderURLs;
  }

  isLeader(): boolean {
    return this.leader && !this.noLeader;
  }

  private leaderOnly(): void {
    if (this.noLeader) throw new RaftKvError('NO_LEADER', 'etcdserver: no leader');
    if (!this.leader) throw new RaftKvError('NOT_LEADER', 'etcdserver: not leader', { leaderClientURLs: this.leaderURLs });
  }
}

function toApiError(e: KvError): RaftKvError {
  return new RaftKvError(e.code, e.message, e.compactRevision !== undefined ? { compactRevision: e.compactRevision } : undefined);
}
