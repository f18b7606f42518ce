/**
 * The host's handle on the Raft core. The host loop is:
 *
 *   1. rd = node.ready()           (only when node.hasReady())
 *   2. send rd.messages             (may go before persistence)
 *   3. persist rd.snapshot (if any), rd.hardState (if any) and rd.entries, fsync
 *   4. append them to the LogStorage (MemoryStorage.applySnapshot / append / setHardState)
 *   5. send rd.messagesAfterPersist (votes and acknowledgements promise durable state)
 *   6. apply rd.committedEntries to the state machine, serve rd.readStates
 *   7. node.advance(rd)
 *
 * At most one Ready is outstanding; while its fsync runs, new proposals pile up in the core
 * and the next Ready persists them all with one fsync (group commit).
 *
 * A host may instead let writes run behind (as a leader does, so that entries the followers have
 * made durable commit and apply while its own write is still going):
 *
 *   3'. queue the write of rd.snapshot/hardState/entries (writes finish in the order queued)
 *   6'. apply rd.committedEntries, serve rd.readStates
 *   7'. node.applied(rd): the next ready() may come now, and never repeats rd's entries
 *   later, as each queued write finishes, in order: append to the LogStorage, node.persisted(rd),
 *   then send rd.messagesAfterPersist.
 *
 * Applying before the local write is safe because committed means durable on a quorum, and a
 * leader counts its own copy only once persisted() says so. advance() (the synchronous form) may
 * only follow when no write is queued, and a Ready carrying a snapshot must take that form.
 */
import { Raft, RaftError, type RaftConfig, type SoftState } from './raft.js';
import type { ReadState } from './readonly.js';
import type { ConfChange, ConfState, Entry, HardState, Message, NodeId, Snapshot } from './types.js';
import { NONE } from './types.js';
import { encodeConfChange } from './confchange.js';
import type { Progress } from './progress.js';

export interface Ready {
  /** Present when leader or role changed since the last Ready. */
  readonly softState?: SoftState;
  /** Present when term, vote or commit changed: persist it. */
  readonly hardState?: HardState;
  /** Persist (before applying rd.committedEntries). */
  readonly snapshot?: Snapshot;
  readonly entries: readonly Entry[];
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  readonly readStates: readonly ReadState[];
}

export interface Status {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly lead: NodeId;
  readonly state: SoftState['state'];
  readonly leadTransferee: NodeId;
  readonly confState: ConfState;
  /** Leader only: each member's replication progress. */
  readonly progress: ReadonlyMap<NodeId, { match: number; next: number; state: Progress['state']; isLearner: boolean; recentActive: boolean }>;
}

function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export class RawNode {
  readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private outstanding: Ready | undefined;
  /** Readies handed over with applied() whose writes have not finished, oldest first. */
  private readonly writing: Ready[] = [];

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoft = { lead: NONE, state: 'follower' };
    this.prevHard = this.raft.hardState();
  }

  tick(): void {
    this.raft.tick();
  }

  campaign(): RaftError | undefined {
    return this.raft.step({ type: 'hup', from: this.raft.id, to: this.raft.id, term: 0 });
  }

  propose(data: Uint8Array): RaftError | undefined {
    return this.raft.step({ type: 'prop', from: this.raft.id, to: this.raft.id, term: 0, entries: [{ term: 0, index: 0, type: 'normal', data }] });
  }

  /** Proposes several commands as one batch (one append message, one fsync). */
  proposeBatch(datas: readonly Uint8Array[]): RaftError | undefined {
    if (datas.length === 0) return undefined;
    return this.raft.step({
      type: 'prop', from: this.raft.id, to: this.raft.id, term: 0,
      entries: datas.map((data) => ({ term: 0, index: 0, type: 'normal' as const, data })),
    });
  }

  proposeConfChange(cc: ConfChange): RaftError | undefined {
    return this.raft.step({ type: 'prop', from: this.raft.id, to: this.raft.id, term: 0, entries: [{ term: 0, index: 0, type: 'confChange', data: encodeConfChange(cc) }] });
  }

  /** Feeds a message received from a peer. Local-only message types are refused. */
  step(m: Message): RaftError | undefined {
    if (m.type === 'hup' || m.type === 'beat' || m.type === 'checkQuorum' || m.type === 'snapStatus' || m.type === 'unreachable') {
      throw new Error(`raft: ${m.type} is a local message and cannot come from a peer`);
    }
    return this.raft.step(m);
  }

  /** The context identifies the request when its ReadState comes back. */
  readIndex(context: Uint8Array): RaftError | undefined {
    return this.raft.step({ type: 'readIndex', from: this.raft.id, to: this.raft.id, term: 0, context });
  }

  transferLeader(transferee: NodeId): void {
    this.raft.step({ type: 'transferLeader', from: transferee, to: this.raft.id, term: 0 });
  }

  /** See RaftConfig.deferCommitBroadcast: whether a broadcastCommit() would send anything. */
  hasUnsentCommit(): boolean {
    return this.raft.hasUnsentCommit();
  }

  /** Sends the commit index to the followers not yet told it (with deferCommitBroadcast). */
  broadcastCommit(): void {
    this.raft.broadcastCommit();
  }

  reportUnreachable(id: NodeId): void {
    this.raft.step({ type: 'unreachable', from: id, to: this.raft.id, term: 0 });
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step({ type: 'snapStatus', from: id, to: this.raft.id, term: 0, reject: !ok });
  }

  hasReady(): boolean {
    if (this.outstanding) return false;
    const r = this.raft;
    const soft = r.softState();
    if (soft.lead !== this.prevSoft.lead || soft.state !== this.prevSoft.state) return true;
    if (!hardStateEqual(r.hardState(), this.prevHard)) return true;
    if (r.log.unstable.snapshot) return true;
    if (r.msgs.length > 0 || r.msgsAfterPersist.length > 0) return true;
    if (r.log.unstable.hasEntriesToPersist()) return true;
    if (r.log.hasNextCommittedEntries()) return true;
    return r.readStates.length > 0;
  }

  ready(): Ready {
    if (this.outstanding) throw new Error('raft: ready() called before advance() of the previous Ready');
    const r = this.raft;
    const soft = r.softState();
    const hard = r.hardState();
    const rd: Ready = {
      softState: soft.lead !== this.prevSoft.lead || soft.state !== this.prevSoft.state ? soft : undefined,
      hardState: hardStateEqual(hard, this.prevHard) ? undefined : hard,
      snapshot: r.log.unstable.snapshot,
      entries: r.log.unstable.entriesToPersist(),
      committedEntries: r.log.nextCommittedEntries(r.maxCommittedSize),
      messages: r.msgs,
      messagesAfterPersist: r.msgsAfterPersist,
      readStates: r.readStates,
    };
    r.msgs = [];
    r.msgsAfterPersist = [];
    r.readStates = [];
    if (rd.softState) this.prevSoft = rd.softState;
    if (rd.hardState) this.prevHard = rd.hardState;
    this.outstanding = rd;
    return rd;
  }

  /** The host has done everything the Ready asked (persisted, sent, applied). */
  advance(rd: Ready): void {
    // Checked first: a refused advance() leaves rd outstanding, so nothing in it is handed out again.
    if (this.writing.length > 0) throw new Error('raft: advance() while writes queued by applied() are unfinished');
    this.release(rd);
    const log = this.raft.log;
    if (rd.committedEntries.length > 0) {
      log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1].index);
    } else if (rd.snapshot) {
      if (rd.snapshot.metadata.index > log.applied) log.applied = rd.snapshot.metadata.index;
    }
    this.markStable(rd);
  }

  /**
   * The host applied rd.committedEntries and queued rd's write (see the header). The write is
   * reported later with persisted(rd).
   */
  applied(rd: Ready): void {
    if (rd.snapshot) throw new Error('raft: a Ready with a snapshot must be persisted before it is applied (use advance())');
    this.release(rd);
    const log = this.raft.log;
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      log.unstable.acceptInProgress(last.index, last.term);
    }
    if (rd.committedEntries.length > 0) log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1].index);
    this.writing.push(rd);
    this.raft.config.compact(log.applied);
  }

  /** The write queued for rd (by applied()) is durable; calls come in the order of applied(). */
  persisted(rd: Ready): void {
    if (this.writing[0] !== rd) throw new Error('raft: persisted() out of order or for a Ready never handed over with applied()');
    this.writing.shift();
    this.markStable(rd);
  }

  /** Whether writes handed over with applied() are still unfinished. */
  hasUnfinishedWrites(): boolean {
    return this.writing.length > 0;
  }

  private release(rd: Ready): void {
    if (rd !== this.outstanding) throw new Error('raft: a Ready that is not the outstanding one');
    this.outstanding = undefined;
  }

  private markStable(rd: Ready): void {
    const log = this.raft.log;
    if (rd.snapshot) log.stableSnapTo(rd.snapshot.metadata.index);
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      log.stableTo(last.index, last.term);
    }
    this.raft.config.compact(log.applied);
    this.raft.onPersisted();
  }

  status(): Status {
    const r = this.raft;
    const progress = new Map<NodeId, { match: number; next: number; state: Progress['state']; isLearner: boolean; recentActive: boolean }>();
    if (r.state === 'leader') {
      for (const [id, pr] of r.prs) progress.set(id, { match: pr.match, next: pr.next, state: pr.state, isLearner: pr.isLearner, recentActive: pr.recentActive });
    }
    return {
      id: r.id, term: r.term, vote: r.vote, commit: r.log.committed, applied: r.log.applied,
      lastIndex: r.log.lastIndex(), lead: r.lead, state: r.state, leadTransferee: r.leadTransferee,
      confState: r.confState(), progress,
    };
  }
}

/**
 * Entries every member of a brand-new cluster writes first, identically: one addNode per
 * initial voter, at term 1, committed. They make the initial membership part of the log, so
 * members that join later learn it the same way they learn every later change.
 */
export function bootstrapEntries(members: readonly { id: NodeId; context: Uint8Array }[]): { entries: Entry[]; hardState: HardState } {
  const entries: Entry[] = members.map((m, i) => ({
    term: 1, index: i + 1, type: 'confChange' as const,
    data: encodeConfChange({ type: 'addNode', nodeId: m.id, context: m.context }),
  }));
  return { entries, hardState: { term: 1, vote: NONE, commit: entries.length } };
}
