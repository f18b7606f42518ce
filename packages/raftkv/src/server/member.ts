/**
 * One raftkv member: the host around the pure Raft core. It owns the effects the core must not
 * touch — clock (the ticker), disk (WAL, snapshots), network (peer transport) — and the
 * state machine, and offers RaftKvApi to the HTTP front end.
 *
 * The Ready loop (processReady) is the heart; see rawnode.ts for the contract it follows.
 * Durability: a write is acknowledged only after its entry is committed and applied here; an
 * entry is applied only after it is fsynced here and on a quorum.
 */
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { request } from 'undici';
import { KvStore } from '../kv/store.js';
import {
  KvError,
  type CompactionRequest, type CompactionResponse, type DeleteRangeRequest, type DeleteRangeResponse,
  type KvCommand, type KvCommandResult, type LeaseGrantRequest, type LeaseGrantResponse,
  type LeaseRevokeRequest, type LeaseRevokeResponse, type PutRequest, type PutResponse,
  type RangeRequest, type RangeResponse, type TxnRequest, type TxnResponse, type WatchEvent,
} from '../kv/types.js';
import { decodeConfChange } from '../raft/confchange.js';
import { RaftError } from '../raft/raft.js';
import { RawNode, bootstrapEntries, type Ready } from '../raft/rawnode.js';
import { MemoryStorage } from '../raft/storage.js';
import type { ConfChange, Entry, HardState, Message, Snapshot, SnapshotMetadata } from '../raft/types.js';
import { NONE } from '../raft/types.js';
import { PeerTransport } from '../transport/transport.js';
import { messageBody } from '../transport/snapshot-body.js';
import type { SnapshotBody } from '../transport/snapshot-body.js';
import { Snapshotter } from '../wal/snapshotter.js';
import type { SnapshotDataReader } from '../wal/snapshotter.js';
import { Wal } from '../wal/wal.js';
import {
  RaftKvError, type ClusterHeader, type LeaseTimeToLive, type Member, type MemberStatus, type RaftKvApi,
  type WatchRequest, type WatchSubscription,
} from './api.js';
import { decodeMemberContext, decodePayload, encodeMemberContext, encodePayload, type EntryPayload, type MemberContext } from './envelope.js';
import { clusterIdFor, memberIdFor } from './identity.js';
import { LeaseClock } from './lease-clock.js';
import { RaftKvMetrics } from './metrics.js';
import { MemberState, openSnapshotFile } from './state.js';

export const VERSION = '3.5.0-flotilla.0.1.0';
/** Upper bound of one batch of proposals handed to Raft (see flushProposals). */
const PROPOSAL_BATCH_BYTES = 4 * 1024 * 1024;
/**
 * Placeholder for the bytes of a snapshot that are in its file only. Once a snapshot is saved,
 * the member lets go of its bytes (as large as the whole store) and reads them back from the file
 * for the rare follower that needs them (MemoryStorage.dropSnapshotData, Snapshotter.openData).
 */
const SNAPSHOT_IN_FILE = new Uint8Array(0);

/** Resolves on the next turn of the event loop, after pending I/O: the pause between slices of long work. */
const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * How long a leader leaves a commit for the next append to carry before sending it on its own.
 * A lone client's next write arrives well within it; an idle cluster's followers lag this much.
 */
const COMMIT_BROADCAST_DELAY_MS = 2;
/** etcd's --max-request-bytes default. */
export const MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;

export interface RaftKvServerConfig {
  name: string;
  dataDir: string;
  /** Where clients reach this member (advertised to others for forwarding). */
  clientURLs: string[];
  /** Where peers reach this member; the first is listened on. */
  peerURLs: string[];
  /** name → peer URL of every initial member (used only when the data dir is new). */
  initialCluster: { name: string; peerURL: string }[];
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  /** Shared secret of the peer transport. */
  peerSecret: string;
  /** Milliseconds per Raft tick; the leader heartbeats every tick. Default 50. */
  heartbeatIntervalMs?: number;
  /** Milliseconds without a leader before an election (randomised up to 2x). Default 500. */
  electionTimeoutMs?: number;
  /** Applied entries between snapshots. Default 100,000 (etcd's). */
  snapshotCount?: number;
  /** Entries kept behind a snapshot so slightly slow followers need no snapshot. Default 5,000. */
  snapshotCatchUpEntries?: number;
  /** How long a write or linearizable read may wait. Default 7 s (etcd: 7 s). */
  requestTimeoutMs?: number;
  /** WAL segment size in bytes. Default 64 MiB. */
  walSegmentBytes?: number;
  /** A `snapshot save` file to seed a brand-new data dir from (etcd's snapshot restore). */
  restoreFrom?: Uint8Array;
  logger: Logger;
  /** Include process-wide default metrics (off when several members share a process). */
  processMetrics?: boolean;
}

interface Waiter {
  resolve: (r: unknown) => void;
  reject: (e: Error) => void;
  /** performance.now() after which it is answered TIMEOUT (expireWaiters). */
  deadline: number;
  /** What TIMEOUT says then. */
  timeoutMessage: string;
  /** performance.now() at the proposal, for raftkv_server_proposal_duration_seconds. */
  since?: number;
}

interface ActiveWatch {
  req: WatchRequest;
  onEvents: (events: WatchEvent[], revision: number) => void;
  onCancel: ((err: RaftKvError) => void) | undefined;
  deliver?: (events: WatchEvent[], revision: number) => void;
  /** Highest revision delivered, to resume from after a snapshot install. */
  lastRevision: number;
  handle: { cancel(): void } | undefined;
}

interface ReadBatch {
  waiters: { resolve: () => void; reject: (e: Error) => void }[];
  started: number;
  index?: number;
}

function kvToRaftKvError(e: KvError): RaftKvError {
  return new RaftKvError(e.code, e.message, e.compactRevision !== undefined ? { compactRevision: e.compactRevision } : undefined);
}

function raftToRaftKvError(e: RaftError): RaftKvError {
  switch (e.code) {
    case 'CONF_CHANGE_PENDING':
      return new RaftKvError('CONF_CHANGE_PENDING', e.message);
    case 'INVALID_CONF_CHANGE':
      return new RaftKvError('INVALID', e.message);
    case 'NOT_LEADER':
      return new RaftKvError('NOT_LEADER', e.message);
    case 'PROPOSAL_DROPPED':
      return new RaftKvError('NO_LEADER', e.message);
  }
}

export class RaftKvServer implements RaftKvApi {
  readonly id: number;
  readonly metrics: RaftKvMetrics;
  private readonly cfg: Required<Omit<RaftKvServerConfig, 'restoreFrom' | 'processMetrics'>>;
  private readonly log: Logger;
  private readonly transportLog: Logger;
  private node!: RawNode;
  private storage = new MemoryStorage();
  private wal!: Wal;
  private snapshotter!: Snapshotter;
  private transport!: PeerTransport;
  private state = new MemberState();
  private leaseClock = new LeaseClock();

  private ticker: NodeJS.Timeout | undefined;
  private commitBroadcastTimer: NodeJS.Timeout | undefined;
  /** The commit index the last commit broadcast was armed for. */
  private commitBroadcastAt = 0;
  /** The newest commit index seen, and when it was first seen (performance.now()). */
  private lastCommitSeen = 0;
  private lastCommitAt = 0;
  private processing = false;
  /** Writes queued by handleReadyBehind and not yet landed; lastWrite settles after all of them. */
  private writesInFlight = 0;
  private lastWrite: Promise<void> = Promise.resolve();
  private processAgain = false;
  private stopped = false;
  private stopping = false;
  private fatal: Error | undefined;

  private readonly bootId = Math.random().toString(36).slice(2, 10);
  private proposalSeq = 0;
  private readonly waiters = new Map<string, Waiter>();
  private readonly proposalTimeoutMessage: string;
  /** Proposals pending when the leader changed: answered LEADER_CHANGED unless applied first. */
  private readonly strandedProposals: string[] = [];
  private proposalBuffer: Uint8Array[] = [];
  private proposalBufferIds: string[] = [];
  private proposalFlushScheduled = false;

  private readSeq = 0;
  private openReadBatch: ReadBatch | undefined;
  private readonly inflightReads = new Map<string, ReadBatch>();
  /** Read batches whose index is known, waiting for apply to reach it, ordered by index. */
  private readonly readsAwaitingApply: ReadBatch[] = [];

  private lastLead = NONE;
  /** The newest HardState written to the WAL, and a newer one (commit only) not yet written. */
  private savedHardState: HardState = { term: 0, vote: NONE, commit: 0 };
  private unsavedHardState: HardState | undefined;
  private lastSnapshotIndex = 0;
  private snapshotInProgress = false;
  /** The running snapshot, awaited on shutdown so it never touches a closed WAL. */
  private snapshotTask: Promise<void> | undefined;
  private readonly watches = new Set<ActiveWatch>();
  private onRemoved: (() => void) | undefined;
  private publishTimer: NodeJS.Timeout | undefined;

  constructor(config: RaftKvServerConfig) {
    this.cfg = {
      heartbeatIntervalMs: 50,
      electionTimeoutMs: 500,
      snapshotCount: 100_000,
      snapshotCatchUpEntries: 5_000,
      requestTimeoutMs: 7_000,
      walSegmentBytes: 64 * 1024 * 1024,
      ...config,
    } as RaftKvServer['cfg'];
    this.restoreFrom = config.restoreFrom;
    this.proposalTimeoutMessage = `request timed out after ${this.cfg.requestTimeoutMs} ms (it may still be applied)`;
    if (this.cfg.peerURLs.length === 0) throw new Error('raftkv: at least one peer URL is required');
    if (this.cfg.electionTimeoutMs < 2 * this.cfg.heartbeatIntervalMs) {
      throw new Error(`raftkv: --election-timeout (${this.cfg.electionTimeoutMs} ms) must be at least twice --heartbeat-interval (${this.cfg.heartbeatIntervalMs} ms)`);
    }
    if (!this.cfg.peerSecret) throw new Error('raftkv: a peer secret is required');
    this.id = memberIdFor(this.cfg.peerURLs, this.cfg.initialClusterToken);
    this.log = config.logger.child({ component: 'raftkv', node: this.cfg.name });
    this.transportLog = config.logger.child({ component: 'raftkv-transport', node: this.cfg.name });
    this.metrics = new RaftKvMetrics({ member: this.cfg.name }, config.processMetrics ?? true);
    this.metrics.readRaftOnScrape(() => {
      const r = this.node?.raft;
      return r ? { term: r.term, committed: r.log.committed, applied: r.log.applied } : { term: 0, committed: 0, applied: 0 };
    });
  }

  private readonly restoreFrom: Uint8Array | undefined;

  /** Called once if this member is removed from the cluster (it then stops by itself). */
  setOnRemoved(cb: () => void): void {
    this.onRemoved = cb;
  }

  // ---- start-up -----------------------------------------------------------------------------

  async start(): Promise<void> {
    const memberDir = path.join(this.cfg.dataDir, 'member');
    await mkdir(memberDir, { recursive: true });
    this.snapshotter = new Snapshotter(path.join(memberDir, 'snap'));
    const warn = (msg: string, details: Record<string, unknown>): void => this.log.warn({ ...details }, msg);
    const snapshot = await this.snapshotter.loadNewest(warn);
    const { wal, state } = await Wal.open({
      dir: path.join(memberDir, 'wal'),
      segmentBytes: this.cfg.walSegmentBytes,
      onWarning: warn,
      onFsync: (seconds) => this.metrics.walFsyncDuration.observe(seconds),
    });
    this.wal = wal;
    if (state.repairedTornTail) this.log.warn(state.repairedTornTail, 'repaired a torn write at the end of the WAL');

    const fresh = !snapshot && state.entries.length === 0 && state.hardState.term === 0;
    let applied = 0;
    if (fresh) {
      if (this.cfg.initialClusterState === 'new') await this.bootstrap();
      else this.log.info({ member: this.id.toString(16) }, 'joining an existing cluster; waiting for the leader');
    } else {
      if (this.restoreFrom) throw new Error(`raftkv: --restore needs an empty data dir, but ${this.cfg.dataDir} already holds data`);
      if (state.snapshot && (!snapshot || snapshot.metadata.index < state.snapshot.index)) {
        throw new Error(`raftkv: the WAL refers to snapshot ${state.snapshot.index}, but no readable snapshot file at or after it exists in ${path.join(memberDir, 'snap')}`);
      }
      if (snapshot) {
        this.storage.applySnapshot(snapshot);
        this.state = MemberState.decode(snapshot.data);
        this.storage.dropSnapshotData(snapshot.metadata, SNAPSHOT_IN_FILE);
        applied = snapshot.metadata.index;
        this.lastSnapshotIndex = applied;
      }
      this.storage.append(state.entries);
      this.storage.setHardState(state.hardState);
      this.log.info({ snapshotIndex: applied, entries: state.entries.length, term: state.hardState.term, commit: state.hardState.commit }, 'restarting from the data dir');
    }

    this.savedHardState = this.storage.initialState().hardState;
    const electionTick = Math.max(2, Math.round(this.cfg.electionTimeoutMs / this.cfg.heartbeatIntervalMs));
    this.node = new RawNode({
      id: this.id,
      storage: this.storage,
      applied,
      electionTick,
      heartbeatTick: 1,
      random: Math.random,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 256,
      // Followers learn each commit from the next append, or from broadcastCommit() shortly
      // after (see armCommitBroadcast): two messages fewer per follower per write.
      deferCommitBroadcast: true,
    });

    const listen = new URL(this.cfg.peerURLs[0]);
    this.transport = new PeerTransport({
      id: this.id,
      listen: { host: listen.hostname, port: Number(listen.port) },
      secret: this.cfg.peerSecret,
      onMessage: (m) => this.onPeerMessage(m),
      onUnreachable: (to) => {
        this.node.reportUnreachable(to);
        this.kick();
      },
      onSnapshotSent: (to, ok) => {
        if (ok) this.metrics.snapshotsSent.inc();
        this.node.reportSnapshot(to, ok);
        this.kick();
      },
      onRtt: (peer, seconds) => this.metrics.peerRtt.observe({ To: peer.toString(16) }, seconds),
      snapshotBody: (m) => (m.snapshot.data === SNAPSHOT_IN_FILE ? this.snapshotFileBody(m.snapshot.metadata) : Promise.resolve(messageBody(m))),
      onLog: (level, msg, fields) => {
        const { component: _c, node: _n, ...rest } = fields;
        this.transportLog[level](rest, msg);
      },
    });
    this.syncPeers();
    if (fresh && this.cfg.initialClusterState === 'existing') {
      // A joining member knows nobody yet: --initial-cluster tells it where the others are, so
      // it can answer the leader (etcd's joining members use the flag the same way).
      for (const m of this.cfg.initialCluster) {
        const id = memberIdFor([m.peerURL], this.cfg.initialClusterToken);
        if (id !== this.id) this.transport.setPeer(id, m.peerURL);
      }
    }
    // Peer addresses also come from conf-change entries not yet applied (they take effect when
    // appended; see confchange.ts).
    for (const e of this.unappliedConfEntries()) this.notePeerFromEntry(e);
    await this.transport.start();

    this.ticker = setInterval(() => this.onTick(), this.cfg.heartbeatIntervalMs);
    this.publishTimer = setInterval(() => {
      this.maybePublishAttributes();
      void this.checkStillMember();
    }, 200);
    this.log.info({ member: this.id.toString(16), peerURLs: this.cfg.peerURLs, clientURLs: this.cfg.clientURLs }, 'raftkv member started');
    this.kick();
  }

  private unappliedConfEntries(): Entry[] {
    const first = this.storage.firstIndex();
    const last = this.storage.lastIndex();
    if (last < first) return [];
    return this.storage.entries(first, last + 1, Number.MAX_SAFE_INTEGER).filter((e) => e.type === 'confChange');
  }

  /** A brand-new cluster: every initial member writes the same bootstrap entries. */
  private async bootstrap(): Promise<void> {
    const members = this.cfg.initialCluster.map((m) => ({ name: m.name, peerURLs: [m.peerURL], id: memberIdFor([m.peerURL], this.cfg.initialClusterToken) }));
    if (!members.some((m) => m.id === this.id)) {
      throw new Error(`raftkv: this member's peer URL ${this.cfg.peerURLs.join(',')} is not in --initial-cluster`);
    }
    const seen = new Set<number>();
    for (const m of members) {
      if (seen.has(m.id)) throw new Error(`raftkv: --initial-cluster lists ${m.peerURLs[0]} twice`);
      seen.add(m.id);
    }
    const clusterId = clusterIdFor([...seen], this.cfg.initialClusterToken);
    const boot = bootstrapEntries(members.map((m) => ({
      id: m.id,
      context: encodeMemberContext({ name: m.name, peerURLs: m.peerURLs, clientURLs: [], clusterId }),
    })));
    if (this.restoreFrom) {
      // Seed from a snapshot file: the bootstrap membership with the saved key-value data, as a
      // Raft snapshot at the bootstrap's last index. Every restored member builds the same one.
      const saved = MemberState.decode(openSnapshotFile(this.restoreFrom));
      const state = new MemberState(saved.kv, clusterId, members.map((m) => ({ id: m.id, name: m.name, peerURLs: m.peerURLs, clientURLs: [], isLearner: false })));
      const index = boot.entries.length;
      const snap: Snapshot = {
        metadata: { index, term: 1, confState: { voters: members.map((m) => m.id).sort((a, b) => a - b), learners: [] } },
        data: state.encode(),
      };
      await this.snapshotter.save(snap);
      await this.wal.saveSnapshotMarker(index, 1);
      await this.wal.save(boot.hardState, []);
      this.storage.applySnapshot(snap);
      this.storage.dropSnapshotData(snap.metadata, SNAPSHOT_IN_FILE);
      this.storage.setHardState(boot.hardState);
      this.state = state;
      this.lastSnapshotIndex = index;
      this.log.info({ revision: state.kv.revision, members: members.length }, 'restored the key-value data from a snapshot file');
      return;
    }
    await this.wal.save(boot.hardState, boot.entries);
    this.storage.append(boot.entries);
    this.storage.setHardState(boot.hardState);
    this.log.info({ members: members.map((m) => m.name), clusterId: clusterId.toString(16) }, 'bootstrapped a new cluster');
  }

  // ---- the loop -----------------------------------------------------------------------------

  private onTick(): void {
    if (this.stopped) return;
    this.node.tick();
    if (this.node.raft.state === 'leader') this.leaderChores();
    this.expireWaiters();
    this.kick();
  }

  /**
   * Answers TIMEOUT to proposals past their deadline, on the Raft tick (a tick late at most): one
   * sweep for writes and membership changes alike, which settle() answers and counts the same
   * way. Every waiter has the same timeout, so insertion order is deadline order.
   */
  private expireWaiters(): void {
    const now = performance.now();
    for (const [p, w] of this.waiters) {
      if (w.deadline > now) break;
      this.settle(p, new RaftKvError('TIMEOUT', w.timeoutMessage));
    }
  }

  private onPeerMessage(m: Message): void {
    if (this.stopped) return;
    try {
      const err = this.node.step(m);
      if (err) this.log.debug({ err: err.message }, 'peer message refused');
    } catch (err) {
      // A message that breaks an invariant is a bug or a corrupt peer: never let it take the
      // member down silently in a half-applied state.
      this.die(err as Error);
      return;
    }
    if (m.type === 'snap') this.metrics.snapshotsReceived.inc();
    this.kick();
  }

  /** Schedules the Ready loop (coalescing the triggers of one callback). */
  private kick(): void {
    if (this.processing) {
      this.processAgain = true;
      return;
    }
    this.processing = true;
    // A microtask, not setImmediate: it still runs after the current callback (so every message
    // of one socket read lands in one Ready) but saves an event-loop turn on the commit path.
    queueMicrotask(() => {
      this.processReady().catch((err: unknown) => this.die(err as Error));
    });
  }

  private async processReady(): Promise<void> {
    try {
      do {
        this.processAgain = false;
        // After a fatal error (a failed write above all) nothing more is processed: the member
        // falls silent, and its peers elect another leader instead of following one whose disk
        // is gone.
        while (!this.stopped && !this.fatal && this.node.hasReady()) await this.handleReady(this.node.ready());
      } while (this.processAgain && !this.stopped);
    } finally {
      this.processing = false;
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState) this.onSoftState(rd.softState.lead, rd.softState.state);
    this.transport.send(rd.messages);
    for (const e of rd.entries) if (e.type === 'confChange') this.notePeerFromEntry(e);
    if (this.writeBehind(rd)) {
      this.handleReadyBehind(rd);
      return;
    }
    // Everything else waits for its own write, which must follow every earlier one.
    if (this.node.hasUnfinishedWrites()) await this.writesLanded();
    if (this.stopped) return;

    let toWal = rd.entries;
    if (rd.snapshot) {
      const { index, term } = rd.snapshot.metadata;
      await this.snapshotter.save(rd.snapshot);
      await this.wal.saveSnapshotMarker(index, term);
      // A leader's snapshot replaces our log. Our own entries above it (written earlier, and
      // conflicting, or Raft would not have sent a snapshot) must not come back on replay:
      // rewriting entry `index` truncates everything after it in the WAL, and the marker
      // hides the rewritten entry itself.
      toWal = [{ index, term, type: 'normal', data: new Uint8Array(0) }, ...rd.entries];
    }
    const write = this.walWriteFor(rd, toWal, rd.snapshot !== undefined);
    if (write) {
      // The write blocks this thread (see Wal.save): the peers' copies of these entries must be
      // on their way first, so their disks work while ours does.
      this.transport.flushNow();
      await this.wal.save(write.hardState, toWal, { blocking: true });
    }
    if (this.stopped) return;
    this.storeDurable(rd);

    const t0 = performance.now();
    if (rd.snapshot) this.installSnapshot(rd.snapshot);
    this.applyReady(rd, t0);
    this.node.advance(rd);
    if (rd.snapshot) this.storage.dropSnapshotData(rd.snapshot.metadata, SNAPSHOT_IN_FILE);
    this.afterApply();
  }

  /**
   * Whether a Ready's write may run behind (handleReadyBehind) rather than block this thread.
   * Only a leader's, and only when several clients wait on it: then its disk is better off the
   * commit path (two followers' copies commit) and acks and requests are read during the write.
   * With one or two clients a blocking write is faster on a small machine: the thread-pool write
   * costs two cross-thread wake-ups per Ready, each slow when the other CPU sleeps, which cost
   * more than the leader's own fsync tail saves (one client here: p99 2.8 → 3.1 ms in A/B runs).
   */
  private writeBehind(rd: Ready): boolean {
    return this.node.raft.state === 'leader' && rd.snapshot === undefined && this.waiters.size > 2;
  }

  /**
   * A leader's Ready: its write is queued and runs behind while this thread applies what is
   * already committed and goes on to the next Ready. So the leader's own disk is off the commit
   * path whenever two followers are faster (any quorum of durable copies commits), and acks keep
   * being read during its write. The followers' appends leave before the write is queued.
   */
  private handleReadyBehind(rd: Ready): void {
    const write = this.walWriteFor(rd, rd.entries, false);
    if (rd.messages.length > 0) this.transport.flushNow();
    const saved = write ? this.wal.save(write.hardState, rd.entries) : Promise.resolve();
    this.writesInFlight++;
    this.lastWrite = Promise.all([this.lastWrite, saved]).then(
      () => {
        this.writesInFlight--;
        if (this.stopped) return;
        this.storeDurable(rd);
        this.node.persisted(rd);
        this.kick();
      },
      (err: unknown) => {
        this.writesInFlight--;
        this.die(err as Error);
        throw err;
      },
    );
    // Settled by the loop above or, on failure, by die(); only the chain itself must not reject unobserved.
    this.lastWrite.catch(() => {});
    this.applyReady(rd, performance.now());
    this.node.applied(rd);
    this.afterApply();
  }

  /** Resolves once every write queued by handleReadyBehind has landed (rejects if one failed). */
  private async writesLanded(): Promise<void> {
    while (this.writesInFlight > 0) await this.lastWrite;
  }

  /**
   * What a Ready must write: its entries, and the HardState if term or vote changed. Only term and
   * vote must be durable before we answer anyone; the commit index need not be (a restarted member
   * learns it again from the leader), so a Ready that merely advances commit costs no fsync: it is
   * written along with the next entries instead.
   */
  private walWriteFor(rd: Ready, toWal: readonly Entry[], force: boolean): { hardState: HardState | null } | undefined {
    if (rd.hardState) this.unsavedHardState = rd.hardState;
    const termOrVoteChanged = rd.hardState !== undefined && (rd.hardState.term !== this.savedHardState.term || rd.hardState.vote !== this.savedHardState.vote);
    if (toWal.length === 0 && !termOrVoteChanged && !force) return undefined;
    const hs = this.unsavedHardState ?? null;
    this.unsavedHardState = undefined;
    // Queued is as good as written here: the WAL writes in call order.
    if (hs) this.savedHardState = hs;
    return { hardState: hs };
  }

  /** rd's write has landed: Raft's view of stable storage catches up, and acks may go out. */
  private storeDurable(rd: Ready): void {
    if (rd.snapshot) this.storage.applySnapshot(rd.snapshot);
    this.storage.append(rd.entries);
    if (rd.hardState) this.storage.setHardState(rd.hardState);
    this.transport.send(rd.messagesAfterPersist);
    // An answer to the leader is on the commit path: it goes now, not at the end of the turn.
    if (rd.messagesAfterPersist.length > 0) this.transport.flushNow();
  }

  private applyReady(rd: Ready, t0: number): void {
    for (const e of rd.committedEntries) this.applyEntry(e);
    if (this.strandedProposals.length > 0) this.failStrandedProposals();
    if (rd.committedEntries.length > 0) this.metrics.applyDuration.observe((performance.now() - t0) / 1000);
    for (const rs of rd.readStates) this.onReadState(Buffer.from(rs.context).toString('latin1'), rs.index);
  }

  private afterApply(): void {
    const applied = this.node.raft.log.applied;
    this.releaseReads(applied);
    // A snapshot covers what is applied, and the log it replaces must be on disk (storage) first.
    if (applied - this.lastSnapshotIndex >= this.snapshotThreshold() && applied <= this.storage.lastIndex()) this.triggerSnapshot();
    this.armCommitBroadcast();
  }

  /**
   * With deferCommitBroadcast the leader tells followers of a commit only with the next append.
   * If no write follows soon, this timer sends it anyway, so that follower reads and watches lag
   * by at most about COMMIT_BROADCAST_DELAY_MS. Armed once per advance of the commit index: a
   * follower that is down (and so never told) does not keep it firing.
   */
  private armCommitBroadcast(): void {
    const committed = this.node.raft.log.committed;
    if (committed > this.lastCommitSeen) {
      this.lastCommitSeen = committed;
      this.lastCommitAt = performance.now();
    }
    if (this.commitBroadcastTimer !== undefined || this.node.raft.state !== 'leader') return;
    if (committed <= this.commitBroadcastAt) return;
    this.scheduleCommitBroadcast(COMMIT_BROADCAST_DELAY_MS);
  }

  private scheduleCommitBroadcast(ms: number): void {
    this.commitBroadcastTimer = setTimeout(() => {
      this.commitBroadcastTimer = undefined;
      if (this.stopped) return;
      if (!this.node.hasUnsentCommit()) {
        this.commitBroadcastAt = this.node.raft.log.committed;
        return;
      }
      // Under steady writes the commit still unsent is a fresh one (the timer was armed for an
      // older one, which rode on an append since), and the next append will carry it as well:
      // wait until it is the full delay old. Sending it alone costs both followers a wake-up and
      // an acknowledgement each; with one client that was an extra round for one put in eight.
      const age = performance.now() - this.lastCommitAt;
      if (age < COMMIT_BROADCAST_DELAY_MS) {
        this.scheduleCommitBroadcast(COMMIT_BROADCAST_DELAY_MS - age);
        return;
      }
      this.commitBroadcastAt = this.node.raft.log.committed;
      this.node.broadcastCommit();
      this.kick();
    }, ms);
  }

  private onSoftState(lead: number, role: string): void {
    if (lead !== this.lastLead) {
      // Proposals in flight went to (or were appended by) the old leader: whether they commit is
      // now up to the new term. Answering at once, as etcd does, lets clients retry or check now
      // instead of after the request timeout. Not before this Ready's committed entries are
      // applied, though: they may settle some (a leader that removed itself steps down in the
      // very Ready that commits its removal).
      if (this.lastLead !== NONE) for (const p of this.waiters.keys()) this.strandedProposals.push(p);
      if (lead !== NONE) this.metrics.leaderChanges.inc();
      this.log.info({ term: this.node.raft.term, leader: lead === NONE ? null : lead.toString(16), role }, lead === NONE ? 'lost the leader' : 'leader changed');
      const wasLeader = this.lastLead === this.id;
      this.lastLead = lead;
      if (lead === this.id) this.leaseClock.reset(this.state.kv.leases().map((l) => ({ ID: l.ID, grantedTTL: l.grantedTTL })), Date.now());
      else if (wasLeader) this.leaseClock.clear();
      // ReadIndex requests sent to a leader that is gone will never be answered: ask again.
      if (lead !== NONE) this.reissueReads();
    }
    this.metrics.hasLeader.set(lead === NONE ? 0 : 1);
    this.metrics.isLeader.set(lead === this.id ? 1 : 0);
  }

  private installSnapshot(snap: Snapshot): void {
    this.state = MemberState.decode(snap.data);
    this.lastSnapshotIndex = snap.metadata.index;
    this.syncPeers();
    this.reattachWatches();
    this.log.info({ index: snap.metadata.index, term: snap.metadata.term, revision: this.state.kv.revision }, 'installed a snapshot from the leader');
  }

  private applyEntry(e: Entry): void {
    if (e.type === 'confChange') {
      this.applyConfChange(decodeConfChange(e.data), e.index);
      return;
    }
    if (e.data.length === 0) return; // a new leader's empty entry
    let payload: EntryPayload;
    try {
      payload = decodePayload(e.data);
    } catch (err) {
      this.die(new Error(`entry ${e.index} cannot be decoded: ${(err as Error).message}`));
      return;
    }
    if ('kv' in payload) {
      const result = this.state.kv.apply(payload.kv);
      this.afterKvApply(payload.kv, result);
      this.settle(payload.p, result instanceof KvError ? kvToRaftKvError(result) : result);
    } else {
      const m = this.state.members.get(payload.attrs.id);
      if (m) {
        m.name = payload.attrs.name;
        m.clientURLs = payload.attrs.clientURLs;
      }
      this.settle(payload.p, undefined);
    }
  }

  private afterKvApply(cmd: KvCommand, result: KvCommandResult | KvError): void {
    if (result instanceof KvError) return;
    if (this.node.raft.state !== 'leader') return;
    if (cmd.op === 'leaseGrant') {
      const r = result as LeaseGrantResponse;
      this.leaseClock.granted(r.ID, r.TTL, Date.now());
    } else if (cmd.op === 'leaseRevoke') {
      this.leaseClock.revoked(cmd.req.ID);
    }
  }

  private applyConfChange(cc: ConfChange, index: number): void {
    const ctx = decodeMemberContext(cc.context);
    switch (cc.type) {
      case 'addNode':
      case 'addLearner': {
        const existing = this.state.members.get(cc.nodeId);
        if (existing) {
          existing.isLearner = cc.type === 'addLearner';
        } else {
          this.state.members.set(cc.nodeId, { id: cc.nodeId, name: ctx.name, peerURLs: ctx.peerURLs, clientURLs: ctx.clientURLs, isLearner: cc.type === 'addLearner' });
        }
        if (ctx.clusterId && !this.state.clusterId) this.state.clusterId = ctx.clusterId;
        if (cc.nodeId !== this.id && ctx.peerURLs.length > 0) this.transport.setPeer(cc.nodeId, ctx.peerURLs[0]);
        break;
      }
      case 'removeNode':
        this.state.members.delete(cc.nodeId);
        if (cc.nodeId === this.id) {
          this.log.warn({ index }, 'this member was removed from the cluster; stopping');
          setImmediate(() => this.onRemoved?.());
        } else {
          this.transport.removePeer(cc.nodeId);
        }
        break;
    }
    this.metrics.isLearner.set(this.state.members.get(this.id)?.isLearner ? 1 : 0);
    if (ctx.p) this.settle(ctx.p, undefined);
    this.log.info({ change: cc.type, member: cc.nodeId.toString(16), index }, 'membership changed');
  }

  private notePeerFromEntry(e: Entry): void {
    const cc = decodeConfChange(e.data);
    if (cc.type === 'removeNode' || cc.nodeId === this.id) return;
    const ctx = decodeMemberContext(cc.context);
    if (ctx.peerURLs.length > 0) this.transport.setPeer(cc.nodeId, ctx.peerURLs[0]);
  }

  private syncPeers(): void {
    if (!this.transport) return;
    for (const m of this.state.members.values()) {
      if (m.id !== this.id && m.peerURLs.length > 0) this.transport.setPeer(m.id, m.peerURLs[0]);
    }
  }

  // ---- snapshots ----------------------------------------------------------------------------

  /**
   * Entries applied between snapshots: snapshotCount, plus 5 % of it per member ranked before
   * this one by id. Members apply the same entries at about the same moment, so with one threshold
   * they all encode and write a snapshot at once, which on one machine (`flotilla up`) means
   * three times the CPU and disk load in the same second.
   */
  private snapshotThreshold(): number {
    let rank = 0;
    for (const id of this.state.members.keys()) if (id < this.id) rank++;
    return this.cfg.snapshotCount + rank * Math.floor(this.cfg.snapshotCount / 20);
  }

  private triggerSnapshot(): void {
    if (this.snapshotInProgress) return;
    this.snapshotInProgress = true;
    const applied = this.node.raft.log.applied;
    const t0 = performance.now();
    const confState = this.node.raft.config.at(applied);
    // The state is captured here, at `applied`, and encoded 16 MiB per event-loop turn (tens of
    // milliseconds): the pause any one request sees stays bounded however big the store grows
    // (one synchronous encode of 100k keys took about 100 ms), while a one-client workload is
    // interrupted only a few times (smaller slices spread the cost over more of its requests).
    const encoded = this.state.encodeInSlices(nextTurn);
    this.snapshotTask = (async () => {
      try {
        const data = await encoded;
        if (this.stopped) return;
        let snap: Snapshot;
        try {
          snap = this.storage.createSnapshot(applied, confState, data);
        } catch (err) {
          // A leader's snapshot installed meanwhile is newer than this one.
          this.log.warn({ err: (err as Error).message }, 'snapshot skipped');
          return;
        }
        this.lastSnapshotIndex = applied;
        await this.snapshotter.save(snap);
        if (this.stopped) return;
        this.storage.dropSnapshotData(snap.metadata, SNAPSHOT_IN_FILE);
        await this.wal.saveSnapshotMarker(snap.metadata.index, snap.metadata.term);
        const compactTo = applied - this.cfg.snapshotCatchUpEntries;
        if (compactTo > this.storage.firstIndex()) {
          this.storage.compact(compactTo);
          await this.wal.releaseTo(compactTo);
        }
        this.metrics.snapshotSaves.inc();
        this.metrics.snapshotSaveDuration.observe((performance.now() - t0) / 1000);
        this.metrics.walSize.set(this.wal.sizeBytes());
        this.log.info({ index: applied, bytes: data.length }, 'saved a snapshot');
      } catch (err) {
        this.die(err as Error);
      } finally {
        this.snapshotInProgress = false;
      }
    })();
  }

  /**
   * The bytes of a snapshot kept only in its file, read back for a follower. A file that cannot
   * be read (damaged on disk, or removed by hand) would fail every transfer and leave the
   * follower behind for good: a new snapshot file is written instead, and Raft's next attempt
   * sends that.
   */
  private async snapshotFileBody(meta: SnapshotMetadata): Promise<SnapshotBody> {
    let reader: SnapshotDataReader;
    try {
      reader = await this.snapshotter.openData(meta.term, meta.index);
    } catch (err) {
      this.replaceUnreadableSnapshot(meta, err as Error);
      throw err;
    }
    return { byteLength: reader.byteLength, pieces: (maxBytes) => this.guardedPieces(meta, reader.pieces(maxBytes)), close: () => reader.close() };
  }

  /** The pieces of a snapshot file as they are read; a failed checksum also replaces the file. */
  private async *guardedPieces(meta: SnapshotMetadata, pieces: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    try {
      yield* pieces;
    } catch (err) {
      this.replaceUnreadableSnapshot(meta, err as Error);
      throw err;
    }
  }

  private replaceUnreadableSnapshot(meta: SnapshotMetadata, err: Error): void {
    const current = this.storage.snapshot().metadata;
    // An older snapshot's file may be gone (pruned): Raft sends the current one next time.
    if (this.stopped || current.index !== meta.index || current.term !== meta.term) return;
    this.log.error({ index: meta.index, term: meta.term, err: err.message }, 'the snapshot file a follower needs cannot be read; writing a new one');
    if (this.snapshotInProgress) return;
    if (this.node.raft.log.applied > meta.index) {
      this.triggerSnapshot();
      return;
    }
    // Nothing applied since: the state is that snapshot's own, so its file is written again.
    this.snapshotInProgress = true;
    this.snapshotTask = (async () => {
      try {
        const data = await this.state.encodeInSlices(nextTurn);
        if (!this.stopped) await this.snapshotter.save({ metadata: current, data });
      } catch (e) {
        this.die(e as Error);
      } finally {
        this.snapshotInProgress = false;
      }
    })();
  }

  // ---- proposals ----------------------------------------------------------------------------

  private checkServing(): void {
    if (this.fatal) throw new RaftKvError('STOPPING', `member failed: ${this.fatal.message}`);
    if (this.stopping || this.stopped) throw new RaftKvError('STOPPING', 'the member is shutting down');
  }

  private propose<T>(make: (p: string) => EntryPayload, signal?: AbortSignal): Promise<T> {
    this.checkServing();
    if (this.node.raft.lead === NONE) {
      return Promise.reject(new RaftKvError('NO_LEADER', 'no leader is elected right now; retry shortly', { leaderClientURLs: [] }));
    }
    const p = `${this.bootId}.${++this.proposalSeq}`;
    const data = encodePayload(make(p));
    if (data.length > MAX_REQUEST_BYTES) {
      return Promise.reject(new RaftKvError('TOO_LARGE', `request is ${data.length} bytes, over the ${MAX_REQUEST_BYTES}-byte limit`));
    }
    return new Promise<T>((resolve, reject) => {
      const now = performance.now();
      this.waiters.set(p, { resolve: resolve as (r: unknown) => void, reject, deadline: now + this.cfg.requestTimeoutMs, timeoutMessage: this.proposalTimeoutMessage, since: now });
      this.metrics.proposalsPending.inc();
      signal?.addEventListener('abort', () => this.settle(p, new RaftKvError('TIMEOUT', 'request aborted by the client (it may still be applied)')), { once: true });
      this.proposalBuffer.push(data);
      this.proposalBufferIds.push(p);
      if (!this.proposalFlushScheduled) {
        this.proposalFlushScheduled = true;
        // Everything proposed in this event-loop turn goes to Raft as one batch: one append
        // message per follower and one WAL write. setImmediate rather than a microtask: each
        // client connection's request is its own I/O callback, and microtasks run after each
        // one, so a microtask would cut a batch per request.
        setImmediate(() => this.flushProposals());
      }
    });
  }

  private flushProposals(): void {
    this.proposalFlushScheduled = false;
    const datas = this.proposalBuffer;
    const ids = this.proposalBufferIds;
    this.proposalBuffer = [];
    this.proposalBufferIds = [];
    if (datas.length === 0) return;
    // Cut the batch at about 4 MiB: a follower forwards its batch to the leader as one peer
    // message, and peer frames are capped (16 MiB), so a burst of large values must not make
    // one message too big to send.
    for (let from = 0; from < datas.length; ) {
      let to = from;
      let bytes = 0;
      while (to < datas.length && (to === from || bytes + datas[to].length <= PROPOSAL_BATCH_BYTES)) bytes += datas[to++].length;
      const err = this.node.proposeBatch(datas.slice(from, to));
      if (err) {
        const e = raftToRaftKvError(err);
        for (const p of ids.slice(from, to)) this.settle(p, e);
      }
      from = to;
    }
    this.kick();
  }

  private failStrandedProposals(): void {
    const err = new RaftKvError('LEADER_CHANGED', 'the leader changed while the request was in flight; it may or may not have been applied');
    for (const p of this.strandedProposals.splice(0)) this.settle(p, err);
  }

  private settle(p: string, result: unknown): void {
    const w = this.waiters.get(p);
    if (!w) return;
    this.waiters.delete(p);
    this.metrics.proposalsPending.dec();
    if (result instanceof Error) {
      this.metrics.proposalsFailed.inc();
      w.reject(result);
    } else {
      if (w.since !== undefined) this.metrics.proposalDuration.observe((performance.now() - w.since) / 1000);
      w.resolve(result);
    }
  }

  private proposeKv<T>(cmd: KvCommand, signal?: AbortSignal): Promise<T> {
    try {
      KvStore.validate(cmd);
    } catch (err) {
      return Promise.reject(err instanceof KvError ? kvToRaftKvError(err) : err);
    }
    return this.propose<T>((p) => ({ p, kv: cmd }), signal);
  }

  // ---- linearizable reads -------------------------------------------------------------------

  /** Resolves once this member has applied everything committed before the call (ReadIndex). */
  private readBarrier(): Promise<void> {
    this.checkServing();
    if (this.node.raft.lead === NONE) return Promise.reject(new RaftKvError('NO_LEADER', 'no leader is elected right now; retry shortly'));
    return new Promise<void>((resolve, reject) => {
      let batch = this.openReadBatch;
      if (!batch) {
        batch = { waiters: [], started: performance.now() };
        this.openReadBatch = batch;
        // Reads that arrive in this turn share one ReadIndex round. Reads arriving later must
        // not join a round already sent (it could predate their start): they open a new one.
        setImmediate(() => this.sendReadBatch());
      }
      const timer = setTimeout(() => {
        const i = batch!.waiters.findIndex((w) => w.resolve === done);
        if (i >= 0) {
          batch!.waiters.splice(i, 1);
          reject(new RaftKvError('TIMEOUT', `linearizable read timed out after ${this.cfg.requestTimeoutMs} ms`));
        }
      }, this.cfg.requestTimeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      batch.waiters.push({ resolve: done, reject: (e) => { clearTimeout(timer); reject(e); } });
    });
  }

  private sendReadBatch(): void {
    const batch = this.openReadBatch;
    this.openReadBatch = undefined;
    if (!batch || batch.waiters.length === 0) return;
    this.issueRead(batch);
  }

  private issueRead(batch: ReadBatch): void {
    const ctx = `${this.bootId}.r${++this.readSeq}`;
    this.inflightReads.set(ctx, batch);
    const err = this.node.readIndex(Buffer.from(ctx, 'latin1'));
    if (err) {
      this.inflightReads.delete(ctx);
      const e = raftToRaftKvError(err);
      for (const w of batch.waiters) w.reject(e);
      return;
    }
    this.kick();
  }

  private reissueReads(): void {
    const batches = [...this.inflightReads.values()];
    this.inflightReads.clear();
    for (const b of batches) if (b.waiters.length > 0) this.issueRead(b);
  }

  private onReadState(ctx: string, index: number): void {
    const batch = this.inflightReads.get(ctx);
    if (!batch) return;
    this.inflightReads.delete(ctx);
    batch.index = index;
    this.readsAwaitingApply.push(batch);
  }

  private releaseReads(applied: number): void {
    if (this.readsAwaitingApply.length === 0) return;
    const keep: ReadBatch[] = [];
    for (const b of this.readsAwaitingApply) {
      if ((b.index ?? Infinity) <= applied) {
        this.metrics.readIndexDuration.observe((performance.now() - b.started) / 1000);
        for (const w of b.waiters) w.resolve();
      } else {
        keep.push(b);
      }
    }
    this.readsAwaitingApply.length = 0;
    this.readsAwaitingApply.push(...keep);
  }

  // ---- leader chores ------------------------------------------------------------------------

  private leaderChores(): void {
    const now = Date.now();
    for (const id of this.leaseClock.expired(now, this.cfg.requestTimeoutMs)) {
      const p = `${this.bootId}.${++this.proposalSeq}`;
      this.proposalBuffer.push(encodePayload({ p, kv: { op: 'leaseRevoke', req: { ID: id } } }));
      this.proposalBufferIds.push(p);
      this.log.info({ lease: id.toString(16) }, 'lease expired; revoking');
    }
    if (this.proposalBuffer.length > 0 && !this.proposalFlushScheduled) {
      this.proposalFlushScheduled = true;
      setImmediate(() => this.flushProposals());
    }
    this.maybeAutoPromote();
  }

  private learnerReady(id: number): boolean {
    const st = this.node.status();
    const pr = st.progress.get(id);
    if (!pr) return false;
    // etcd's rule: a learner may become a voter once it holds 90% of the leader's log.
    return pr.match >= st.lastIndex * 0.9 && pr.recentActive;
  }

  private autoPromoteInFlight = false;
  private maybeAutoPromote(): void {
    if (this.autoPromoteInFlight) return;
    for (const m of this.state.members.values()) {
      if (!m.isLearner || !this.autoPromote.has(m.id) || !this.learnerReady(m.id)) continue;
      this.autoPromoteInFlight = true;
      this.memberPromote(m.id)
        .then(() => this.autoPromote.delete(m.id))
        .catch((err: unknown) => this.log.warn({ member: m.id.toString(16), err: (err as Error).message }, 'automatic promotion of a learner failed; will retry'))
        .finally(() => { this.autoPromoteInFlight = false; });
      return;
    }
  }

  /** Learners added without --learner: promoted automatically once caught up (leader memory). */
  private readonly autoPromote = new Set<number>();

  /** Once it knows a leader, a member publishes its name and client URLs through the log. */
  private maybePublishAttributes(): void {
    if (this.stopped || this.stopping || this.node.raft.lead === NONE) return;
    const me = this.state.members.get(this.id);
    if (!me) return;
    if (me.name === this.cfg.name && me.clientURLs.join(',') === this.cfg.clientURLs.join(',')) return;
    if (this.publishing) return;
    this.publishing = true;
    this.propose<void>((p) => ({ p, attrs: { id: this.id, name: this.cfg.name, clientURLs: this.cfg.clientURLs } }))
      .catch(() => undefined)
      .finally(() => { this.publishing = false; });
  }

  private publishing = false;

  private leaderlessSince = 0;
  private checkingMembership = false;

  /**
   * A removed member never hears of its removal through Raft: the leader stops replicating to
   * it the moment the change is appended. So a member that has had no leader for a while asks
   * the others (as etcd does) whether it is still in the cluster, and stops if it is not.
   */
  private async checkStillMember(): Promise<void> {
    if (this.stopped || this.stopping || this.checkingMembership) return;
    if (this.node.raft.lead !== NONE) {
      this.leaderlessSince = 0;
      return;
    }
    const now = Date.now();
    if (this.leaderlessSince === 0) this.leaderlessSince = now;
    if (now - this.leaderlessSince < 3 * this.cfg.electionTimeoutMs) return;
    this.leaderlessSince = now; // ask again only after another quiet period
    this.checkingMembership = true;
    try {
      for (const m of this.state.members.values()) {
        if (m.id === this.id) continue;
        for (const url of m.clientURLs) {
          try {
            const res = await request(new URL('/v3/cluster/member/list', url), { method: 'POST', body: '{}', headersTimeout: 1_000, bodyTimeout: 1_000 });
            const body = (await res.body.json()) as { members?: { ID?: string }[]; header?: { cluster_id?: string } };
            if (res.statusCode !== 200 || !Array.isArray(body.members)) continue;
            if (String(body.header?.cluster_id) !== String(this.state.clusterId)) continue;
            if (!body.members.some((x) => String(x.ID) === String(this.id))) {
              this.log.warn({ askedMember: m.name }, 'this member has been removed from the cluster; stopping');
              this.onRemoved?.();
            }
            return;
          } catch {
            // that member is unreachable too; try the next
          }
        }
      }
    } finally {
      this.checkingMembership = false;
    }
  }

  // ---- RaftKvApi ----------------------------------------------------------------------------

  header(): ClusterHeader {
    return { clusterId: this.state.clusterId, memberId: this.id, revision: this.state.kv.revision, raftTerm: this.node.raft.term };
  }

  put(req: PutRequest, signal?: AbortSignal): Promise<PutResponse> {
    return this.proposeKv({ op: 'put', req }, signal);
  }

  deleteRange(req: DeleteRangeRequest, signal?: AbortSignal): Promise<DeleteRangeResponse> {
    return this.proposeKv({ op: 'deleteRange', req }, signal);
  }

  async txn(req: TxnRequest, signal?: AbortSignal): Promise<TxnResponse> {
    if (isReadOnlyTxn(req)) {
      try {
        KvStore.validate({ op: 'txn', req });
      } catch (err) {
        throw err instanceof KvError ? kvToRaftKvError(err) : err;
      }
      await this.readBarrier();
      const r = this.state.kv.apply({ op: 'txn', req });
      if (r instanceof KvError) throw kvToRaftKvError(r);
      return r as TxnResponse;
    }
    return this.proposeKv({ op: 'txn', req }, signal);
  }

  compact(req: CompactionRequest, signal?: AbortSignal): Promise<CompactionResponse> {
    return this.proposeKv({ op: 'compact', req }, signal);
  }

  async range(req: RangeRequest, opts?: { serializable?: boolean; signal?: AbortSignal }): Promise<RangeResponse> {
    if (!opts?.serializable) await this.readBarrier();
    else this.checkServing();
    try {
      return this.state.kv.range(req);
    } catch (err) {
      throw err instanceof KvError ? kvToRaftKvError(err) : err;
    }
  }

  watch(req: WatchRequest, onEvents: (events: WatchEvent[], revision: number) => void, onCancel?: (err: RaftKvError) => void): WatchSubscription {
    this.checkServing();
    const w: ActiveWatch = { req, onEvents, onCancel, lastRevision: 0, handle: undefined };
    const deliver = (events: WatchEvent[], revision: number): void => {
      if (revision > w.lastRevision) w.lastRevision = revision;
      onEvents(events, revision);
    };
    w.deliver = deliver;
    const r = this.state.kv.watch(req, deliver);
    if (r instanceof KvError) throw kvToRaftKvError(r);
    w.handle = r;
    this.watches.add(w);
    this.metrics.watchers.set(this.watches.size);
    return {
      id: r.id,
      cancel: () => {
        if (!this.watches.delete(w)) return;
        w.handle?.cancel();
        this.metrics.watchers.set(this.watches.size);
      },
    };
  }

  /**
   * Installing a snapshot replaces the store, and with it every watch registered on it. Watches
   * resume on the new store from the revision after the last one they saw, so a client sees no
   * gap and no duplicate; one whose next revision was compacted away is cancelled with COMPACTED.
   */
  private reattachWatches(): void {
    for (const w of [...this.watches]) {
      const start = w.lastRevision > 0 ? w.lastRevision + 1 : (w.req.startRevision && w.req.startRevision > 0 ? w.req.startRevision : this.state.kv.revision + 1);
      const r = this.state.kv.watch({ ...w.req, startRevision: start }, w.deliver!);
      if (r instanceof KvError) {
        this.watches.delete(w);
        this.log.warn({ start, err: r.message }, 'a watch could not resume after a snapshot install');
        w.onCancel?.(kvToRaftKvError(r));
        continue;
      }
      w.handle = r;
    }
    this.metrics.watchers.set(this.watches.size);
  }

  leaseGrant(req: LeaseGrantRequest, signal?: AbortSignal): Promise<LeaseGrantResponse> {
    return this.proposeKv({ op: 'leaseGrant', req }, signal);
  }

  leaseRevoke(req: LeaseRevokeRequest, signal?: AbortSignal): Promise<LeaseRevokeResponse> {
    return this.proposeKv({ op: 'leaseRevoke', req }, signal);
  }

  private requireLeader(): void {
    this.checkServing();
    if (this.node.raft.state !== 'leader') {
      const urls = this.leaderClientURLs();
      throw new RaftKvError(urls.length > 0 ? 'NOT_LEADER' : 'NO_LEADER', urls.length > 0 ? 'this member is not the leader' : 'no leader is elected right now', { leaderClientURLs: urls });
    }
  }

  async leaseKeepAlive(id: number): Promise<{ ID: number; TTL: number }> {
    this.requireLeader();
    if (!this.state.kv.lease(id)) throw new RaftKvError('LEASE_NOT_FOUND', `lease ${id.toString(16)} not found`);
    const ttl = this.leaseClock.keepAlive(id, Date.now());
    if (ttl === undefined) throw new RaftKvError('LEASE_NOT_FOUND', `lease ${id.toString(16)} not found`);
    return { ID: id, TTL: ttl };
  }

  async leaseTimeToLive(id: number, keys: boolean): Promise<LeaseTimeToLive> {
    this.requireLeader();
    const l = this.state.kv.lease(id);
    if (!l) return { ID: id, TTL: -1, grantedTTL: 0, keys: [] };
    return { ID: id, TTL: this.leaseClock.remaining(id, Date.now()) ?? l.grantedTTL, grantedTTL: l.grantedTTL, keys: keys ? l.keys : [] };
  }

  leaseLeases(): { ID: number }[] {
    return this.state.kv.leases().map((l) => ({ ID: l.ID }));
  }

  memberList(): Member[] {
    return this.state.memberList();
  }

  async memberAdd(peerURLs: string[], isLearner: boolean, signal?: AbortSignal): Promise<{ member: Member; members: Member[] }> {
    this.requireLeader();
    if (peerURLs.length === 0) throw new RaftKvError('INVALID', 'peerURLs: at least one peer URL is required');
    for (const u of peerURLs) {
      try {
        new URL(u);
      } catch {
        throw new RaftKvError('INVALID', `peerURLs: "${u}" is not a URL`);
      }
    }
    const id = memberIdFor(peerURLs, this.cfg.initialClusterToken);
    for (const m of this.state.members.values()) {
      if (m.id === id || m.peerURLs.some((u) => peerURLs.includes(u))) throw new RaftKvError('MEMBER_EXISTS', `a member with peer URL ${peerURLs.join(',')} already exists`);
    }
    await this.proposeConfChange({ type: 'addLearner', nodeId: id }, { name: '', peerURLs, clientURLs: [] }, signal);
    if (!isLearner) this.autoPromote.add(id);
    const member = this.state.members.get(id) ?? { id, name: '', peerURLs, clientURLs: [], isLearner: true };
    return { member: { ...member }, members: this.memberList() };
  }

  async memberRemove(id: number, signal?: AbortSignal): Promise<Member[]> {
    this.requireLeader();
    const m = this.state.members.get(id);
    if (!m) throw new RaftKvError('MEMBER_NOT_FOUND', `member ${id.toString(16)} not found`);
    if (!m.isLearner) {
      // Refuse a removal that would leave the remaining voters without an active quorum.
      const st = this.node.status();
      const remaining = st.confState.voters.filter((v) => v !== id);
      const active = remaining.filter((v) => v === this.id || st.progress.get(v)?.recentActive).length;
      if (active < Math.floor(remaining.length / 2) + 1) {
        throw new RaftKvError('UNHEALTHY', `removing member ${id.toString(16)} would leave ${active} of ${remaining.length} voters active, short of a quorum`);
      }
    }
    await this.proposeConfChange({ type: 'removeNode', nodeId: id }, { name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs }, signal);
    this.autoPromote.delete(id);
    return this.memberList();
  }

  async memberPromote(id: number, signal?: AbortSignal): Promise<Member[]> {
    this.requireLeader();
    const m = this.state.members.get(id);
    if (!m) throw new RaftKvError('MEMBER_NOT_FOUND', `member ${id.toString(16)} not found`);
    if (!m.isLearner) throw new RaftKvError('INVALID', `member ${id.toString(16)} is already a voter`);
    if (!this.learnerReady(id)) throw new RaftKvError('LEARNER_NOT_READY', `learner ${id.toString(16)} has not caught up with the leader yet`);
    await this.proposeConfChange({ type: 'addNode', nodeId: id }, { name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs }, signal);
    return this.memberList();
  }

  private proposeConfChange(cc: Omit<ConfChange, 'context'>, ctx: MemberContext, signal?: AbortSignal): Promise<void> {
    this.checkServing();
    const p = `${this.bootId}.${++this.proposalSeq}`;
    return new Promise<void>((resolve, reject) => {
      const deadline = performance.now() + this.cfg.requestTimeoutMs;
      this.waiters.set(p, { resolve: () => resolve(), reject, deadline, timeoutMessage: 'membership change timed out (it may still be applied)' });
      this.metrics.proposalsPending.inc();
      signal?.addEventListener('abort', () => this.settle(p, new RaftKvError('TIMEOUT', 'request aborted by the client')), { once: true });
      if (this.transport && ctx.peerURLs.length > 0 && cc.type !== 'removeNode') this.transport.setPeer(cc.nodeId, ctx.peerURLs[0]);
      const err = this.node.proposeConfChange({ ...cc, context: encodeMemberContext({ ...ctx, p }) });
      if (err) this.settle(p, raftToRaftKvError(err));
      this.kick();
    });
  }

  status(): MemberStatus {
    const st = this.node.status();
    const errors: string[] = [];
    if (this.fatal) errors.push(this.fatal.message);
    if (st.lead === NONE) errors.push('no leader');
    return {
      header: this.header(),
      version: VERSION,
      dbSize: this.state.kv.sizeBytes(),
      leader: st.lead,
      raftIndex: st.commit,
      raftTerm: st.term,
      raftAppliedIndex: st.applied,
      isLearner: this.state.members.get(this.id)?.isLearner ?? false,
      errors,
    };
  }

  async snapshotBytes(): Promise<Uint8Array> {
    this.checkServing();
    // Captured now; encoded a slice per event-loop turn like the member's own snapshots, so that
    // a large store does not hold up heartbeats (a stall of a second or more would cost the
    // cluster its leader).
    return this.state.encodeSealedInSlices(nextTurn);
  }

  leaderClientURLs(): string[] {
    const lead = this.node.raft.lead;
    if (lead === NONE) return [];
    if (lead === this.id) return this.cfg.clientURLs;
    return this.state.members.get(lead)?.clientURLs ?? [];
  }

  isLeader(): boolean {
    return this.node.raft.state === 'leader';
  }

  /** For tests and `flotilla status`: the Raft view of this member. */
  raftStatus(): ReturnType<RawNode['status']> {
    return this.node.status();
  }

  async metricsText(): Promise<string> {
    this.metrics.dbSize.set(this.state.kv.sizeBytes());
    if (this.wal) this.metrics.walSize.set(this.wal.sizeBytes());
    return this.metrics.registry.metrics();
  }

  // ---- shutdown -----------------------------------------------------------------------------

  /**
   * Graceful stop: a leader first hands leadership to the most up-to-date voter (so clients see
   * no election timeout), then everything is closed. Safe to call more than once.
   */
  async stop(): Promise<void> {
    if (this.stopped || this.stopping) return;
    this.stopping = true;
    try {
      if (this.node && this.node.raft.state === 'leader') await this.transferLeadership();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'leadership transfer before shutdown failed');
    }
    await this.shutdown();
  }

  private async transferLeadership(): Promise<void> {
    const st = this.node.status();
    // Heard from lately, or at least connected: recentActive alone is cleared at every
    // check-quorum round, and a SIGTERM landing just after one would find no one to hand over to.
    const connected = new Set(this.transport.connectedPeers());
    let best: number | undefined;
    let bestMatch = -1;
    for (const v of st.confState.voters) {
      if (v === this.id) continue;
      const pr = st.progress.get(v);
      if (pr && (pr.recentActive || connected.has(v)) && pr.match > bestMatch) {
        best = v;
        bestMatch = pr.match;
      }
    }
    if (best === undefined) return;
    this.log.info({ to: best.toString(16), term: st.term }, 'transferring leadership before shutdown');
    this.node.transferLeader(best);
    this.kick();
    const deadline = Date.now() + this.cfg.electionTimeoutMs * 2;
    while (Date.now() < deadline && this.node.raft.lead === this.id) {
      await new Promise((r) => setTimeout(r, this.cfg.heartbeatIntervalMs / 2));
    }
    // Let the new leader's first heartbeat reach us so its term is durable here too.
    while (this.processing && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }

  private async shutdown(): Promise<void> {
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    if (this.commitBroadcastTimer) clearTimeout(this.commitBroadcastTimer);
    if (this.publishTimer) clearInterval(this.publishTimer);
    const err = new RaftKvError('STOPPING', 'the member is shutting down');
    for (const p of [...this.waiters.keys()]) this.settle(p, err);
    for (const b of [...this.inflightReads.values(), ...this.readsAwaitingApply]) for (const w of b.waiters) w.reject(err);
    this.inflightReads.clear();
    this.readsAwaitingApply.length = 0;
    // Wait for an in-flight Ready to finish its fsync so acknowledged state is on disk.
    while (this.processing) await new Promise((r) => setTimeout(r, 2));
    await this.writesLanded().catch(() => {});
    await this.snapshotTask;
    await this.transport?.stop();
    await this.wal?.close();
    this.log.info('raftkv member stopped');
  }

  /** An unrecoverable error (disk failure, broken invariant): stop serving, loudly. */
  private die(err: Error): void {
    if (this.fatal) return;
    this.fatal = err;
    this.log.fatal({ err: err.message, stack: err.stack }, 'raftkv member failed; stopping');
    this.onFatal?.(err);
  }

  onFatal: ((err: Error) => void) | undefined;
}

function isReadOnlyTxn(req: TxnRequest): boolean {
  const ro = (ops: TxnRequest['success']): boolean =>
    ops.every((op) => 'requestRange' in op || ('requestTxn' in op && isReadOnlyTxn(op.requestTxn)));
  return ro(req.success) && ro(req.failure);
}

/** True when the directory holds member data (used by the CLI to decide about --restore). */
export async function hasMemberData(dataDir: string): Promise<boolean> {
  try {
    const entries = await readdir(path.join(dataDir, 'member', 'wal'));
    return entries.length > 0;
  } catch {
    return false;
  }
}
