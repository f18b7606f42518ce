/**
 * The Raft consensus state machine. Pure and deterministic: inputs are tick(), step(message)
 * and propose(); outputs are collected (messages in `msgs`, read states, log changes) and handed
 * to the host through RawNode.ready(). No clock, no I/O, no global randomness: election jitter
 * comes from the injected `random` function.
 *
 * Features: pre-vote and check-quorum (a returning partitioned node cannot disrupt a healthy
 * leader; a leader that loses its quorum steps down), pipelined replication with flow control,
 * fast log backtracking by term, ReadIndex, leadership transfer, learners and one-at-a-time
 * membership changes (see confchange.ts for the safety argument), snapshots.
 *
 * Each role has its own step function; a role changes only through become*().
 */
import { ConfigHistory, applyConfChange, decodeConfChange } from './confchange.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import { committedIndex, voteResult, type VoteResult } from './quorum.js';
import { ReadOnly, type ReadState } from './readonly.js';
import type { LogStorage } from './storage.js';
import {
  NONE,
  assertNever,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Snapshot,
} from './types.js';

export type StateType = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export interface RaftConfig {
  id: NodeId;
  storage: LogStorage;
  /** Ticks without hearing from a leader before a follower campaigns (randomised in [n, 2n)). Default 10. */
  electionTick?: number;
  /** Ticks between leader heartbeats. Default 1. Must be < electionTick. */
  heartbeatTick?: number;
  /** Last applied index when restarting (the state machine's own durable progress). */
  applied?: number;
  /** Max bytes of entries in one append message. Default 1 MiB. */
  maxSizePerMsg?: number;
  /** Max bytes of committed entries handed to the host per Ready. Default 4 MiB. */
  maxCommittedSizePerReady?: number;
  /** Max append messages in flight to one follower. Default 256. */
  maxInflightMsgs?: number;
  /** Default true. */
  preVote?: boolean;
  /** Default true. */
  checkQuorum?: boolean;
  /**
   * Default false: when the commit index advances, the leader at once sends every follower an
   * append, empty if need be, to carry it. With true, a commit advance alone sends nothing: the
   * new index rides on the next append or heartbeat, or goes out when the host calls
   * broadcastCommit(). Followers only need it to apply (nothing waits on that for safety, and the
   * leader answers clients itself), so a host that calls broadcastCommit() a moment later saves
   * two messages per follower on every write that the next write would have carried anyway.
   */
  deferCommitBroadcast?: boolean;
  /** Uniform in [0, 1). Inject a seeded generator in simulations. */
  random: () => number;
}

/** Why a proposal or request was refused. Hosts map these to client errors. */
export type RaftErrorCode =
  | 'PROPOSAL_DROPPED' // no leader known, or a leadership transfer is in progress
  | 'NOT_LEADER' // the host asked a non-leader for something only a leader does
  | 'CONF_CHANGE_PENDING' // a membership change is already in flight
  | 'INVALID_CONF_CHANGE';

export class RaftError extends Error {
  constructor(readonly code: RaftErrorCode, message: string) {
    super(message);
    this.name = 'RaftError';
  }
}

export interface SoftState {
  readonly lead: NodeId;
  readonly state: StateType;
}

/** Messages a leader may send before its own write of the same entries reaches disk. */
const SEND_BEFORE_PERSIST = new Set<Message['type']>(['app', 'heartbeat', 'snap', 'timeoutNow', 'readIndexResp']);

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  readonly log: RaftLog;
  state: StateType = 'follower';
  lead: NodeId = NONE;
  /** Progress of every member (voters and learners) including this node, when it is a member. */
  prs = new Map<NodeId, Progress>();
  readonly config: ConfigHistory;
  private votes = new Map<NodeId, boolean>();

  /** Outgoing messages, split by whether they may leave before the log is persisted. */
  msgs: Message[] = [];
  msgsAfterPersist: Message[] = [];
  readStates: ReadState[] = [];

  /** The leadership transfer target, if one is under way. */
  leadTransferee: NodeId = NONE;
  /** Index of the newest conf change a leader proposed; no other may be proposed until it commits. */
  private pendingConfIndex = 0;
  private readOnly = new ReadOnly();
  /** ReadIndex requests a new leader received before committing an entry of its term. */
  private pendingReadIndex: Message[] = [];

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  private readonly maxMsgSize: number;
  readonly maxCommittedSize: number;
  private readonly maxInflight: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly deferCommitBroadcast: boolean;
  private readonly random: () => number;

  constructor(c: RaftConfig) {
    if (!Number.isSafeInteger(c.id) || c.id <= 0) throw new Error(`raft: invalid id ${c.id}`);
    this.id = c.id;
    this.electionTimeout = c.electionTick ?? 10;
    this.heartbeatTimeout = c.heartbeatTick ?? 1;
    if (this.heartbeatTimeout <= 0 || this.electionTimeout <= this.heartbeatTimeout) {
      throw new Error('raft: need 0 < heartbeatTick < electionTick');
    }
    this.maxMsgSize = c.maxSizePerMsg ?? 1024 * 1024;
    this.maxCommittedSize = c.maxCommittedSizePerReady ?? 4 * 1024 * 1024;
    this.maxInflight = c.maxInflightMsgs ?? 256;
    this.preVote = c.preVote ?? true;
    this.checkQuorum = c.checkQuorum ?? true;
    this.deferCommitBroadcast = c.deferCommitBroadcast ?? false;
    this.random = c.random;

    this.log = new RaftLog(c.storage, c.applied ?? 0);
    const { hardState, confState } = c.storage.initialState();
    this.config = new ConfigHistory(confState);
    const first = c.storage.firstIndex();
    const last = c.storage.lastIndex();
    if (last >= first) this.config.observe(c.storage.entries(first, last + 1, Number.MAX_SAFE_INTEGER));
    this.syncProgress();
    if (hardState.term !== 0 || hardState.vote !== NONE || hardState.commit !== 0) this.loadState(hardState);
    this.becomeFollower(this.term, NONE);
  }

  private loadState(hs: HardState): void {
    if (hs.commit > this.log.lastIndex()) {
      throw new Error(`raft ${this.id}: stored commit ${hs.commit} is beyond the last stored entry ${this.log.lastIndex()}`);
    }
    // A commit below the snapshot is simply out of date: the snapshot itself was committed.
    this.log.commitTo(hs.commit);
    this.term = hs.term;
    this.vote = hs.vote;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { lead: this.lead, state: this.state };
  }

  confState(): ConfState {
    return this.config.current();
  }

  /** Can this node become leader? Only voters of its newest configuration can. */
  promotable(): boolean {
    return this.config.current().voters.includes(this.id);
  }

  private voters(): readonly NodeId[] {
    return this.config.current().voters;
  }

  // ---- sending ------------------------------------------------------------------------------

  private send(m: Message): void {
    if (SEND_BEFORE_PERSIST.has(m.type) && this.state === 'leader') this.msgs.push(m);
    else this.msgsAfterPersist.push(m);
  }

  /** Sends an append (or a snapshot) to `to` if flow control allows. Returns whether it sent. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const ents = prevTerm === undefined ? undefined : this.log.entriesFrom(pr.next, this.maxMsgSize);
    if (prevTerm === undefined || ents === undefined) {
      // The follower needs entries we compacted: send the snapshot instead.
      if (!pr.recentActive) return false;
      const snapshot = this.log.snapshot();
      if (snapshot.metadata.index === 0) return false;
      pr.becomeSnapshot(snapshot.metadata.index);
      this.send({ type: 'snap', from: this.id, to, term: this.term, snapshot });
      return true;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send({
      type: 'app', from: this.id, to, term: this.term,
      index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed,
    });
    pr.sentCommit = this.log.committed;
    if (ents.length > 0) {
      const last = ents[ents.length - 1].index;
      if (pr.state === 'replicate') {
        pr.optimisticUpdate(last);
        pr.inflights.add(last);
      } else if (pr.state === 'probe') {
        pr.probeSent = true;
      }
    }
    return true;
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  private bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.sendAppend(id);
  }

  /** After the commit index advanced: tell the followers now, or leave it to broadcastCommit(). */
  private afterCommitAdvanced(): void {
    if (!this.deferCommitBroadcast) {
      this.bcastAppend();
      return;
    }
    // Entries that are waiting to go out still go now; they carry the new commit index with them.
    for (const id of this.prs.keys()) if (id !== this.id) this.maybeSendAppend(id, false);
  }

  /** Whether some follower has not yet been sent the current commit index (see deferCommitBroadcast). */
  hasUnsentCommit(): boolean {
    if (this.state !== 'leader') return false;
    for (const [id, pr] of this.prs) if (id !== this.id && pr.sentCommit < this.log.committed) return true;
    return false;
  }

  /** Sends the current commit index to every follower not yet told it (as an append, empty if need be). */
  broadcastCommit(): void {
    if (this.state !== 'leader') return;
    for (const [id, pr] of this.prs) if (id !== this.id && pr.sentCommit < this.log.committed) this.sendAppend(id);
  }

  private sendHeartbeat(to: NodeId, context: Uint8Array): void {
    const pr = this.prs.get(to);
    // Never tell a follower to commit past what it is known to hold.
    const commit = Math.min(pr ? pr.match : 0, this.log.committed);
    if (pr && commit > pr.sentCommit) pr.sentCommit = commit;
    this.send({ type: 'heartbeat', from: this.id, to, term: this.term, commit, context });
  }

  private bcastHeartbeat(context: Uint8Array = EMPTY): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.sendHeartbeat(id, context);
  }

  // ---- role changes -------------------------------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = NONE;
    this.votes = new Map();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.prs) {
      const fresh = new Progress(id, last + 1, this.maxInflight, pr.isLearner);
      if (id === this.id) fresh.match = this.log.stableLastIndex();
      this.prs.set(id, fresh);
    }
    this.pendingConfIndex = 0;
    this.readOnly = new ReadOnly();
    this.pendingReadIndex = [];
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(this.random() * this.electionTimeout);
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.state = 'follower';
  }

  private becomePreCandidate(): void {
    if (this.state === 'leader') throw new Error('raft: invalid transition leader -> preCandidate');
    // Pre-vote changes neither term nor vote: a node that cannot win must not disturb anyone.
    this.votes = new Map();
    this.lead = NONE;
    this.state = 'preCandidate';
  }

  private becomeCandidate(): void {
    if (this.state === 'leader') throw new Error('raft: invalid transition leader -> candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = 'candidate';
  }

  private becomeLeader(): void {
    if (this.state === 'follower') throw new Error('raft: invalid transition follower -> leader');
    this.reset(this.term);
    this.lead = this.id;
    this.state = 'leader';
    const self = this.prs.get(this.id);
    if (self) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // Entries from earlier terms commit only once an entry of this term does (§5.4.2), and no
    // membership change may be proposed before that (see confchange.ts).
    this.pendingConfIndex = this.log.lastIndex() + 1;
    this.appendEntries([{ term: 0, index: 0, type: 'normal', data: EMPTY }]);
  }

  // ---- ticking ------------------------------------------------------------------------------

  tick(): void {
    if (this.state === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step({ type: 'hup', from: this.id, to: this.id, term: 0 });
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step({ type: 'checkQuorum', from: this.id, to: this.id, term: 0 });
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === 'leader' && this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.state !== 'leader') return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step({ type: 'beat', from: this.id, to: this.id, term: 0 });
    }
  }

  // ---- elections ----------------------------------------------------------------------------

  private campaign(kind: 'preElection' | 'election' | 'transfer'): void {
    if (!this.promotable()) return;
    let term: number;
    if (kind === 'preElection') {
      this.becomePreCandidate();
      term = this.term + 1; // the term we would campaign in; our own term is unchanged
    } else {
      this.becomeCandidate();
      term = this.term;
    }
    const pre = kind === 'preElection';
    if (this.poll(this.id, true) === 'won') {
      // A single-voter cluster wins at once.
      if (pre) this.campaign('election');
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const logTerm = this.log.lastTerm();
    for (const id of this.voters()) {
      if (id === this.id) continue;
      this.send({ type: 'vote', from: this.id, to: id, term, logTerm, index: lastIndex, pre, transfer: kind === 'transfer' });
    }
  }

  private poll(id: NodeId, granted: boolean): VoteResult {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    return voteResult(this.voters(), this.votes);
  }

  /** A node that heard from a live leader within the election timeout ignores vote requests. */
  private inLease(): boolean {
    return this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
  }

  // ---- the entry point ----------------------------------------------------------------------

  /** Feeds one message (or local event). Returns an error for refused proposals and requests. */
  step(m: Message): RaftError | undefined {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === 'vote') {
        if (!m.transfer && this.inLease()) return undefined;
      }
      if (m.type === 'vote' && m.pre) {
        // A pre-vote request does not change our term.
      } else if (m.type === 'voteResp' && m.pre && !m.reject) {
        // A granted pre-vote carries the future term; we move to it only when we campaign.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'heartbeat' || m.type === 'app')) {
        // A stale leader (e.g. back from a partition) learns our term and steps down. Without
        // this it would never hear a higher term, since we ignore its stale messages.
        this.send({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: 0, reject: false, rejectHint: 0, logTerm: 0 });
      } else if (m.type === 'vote' && m.pre) {
        this.send({ type: 'voteResp', from: this.id, to: m.from, term: this.term, reject: true, pre: true });
      }
      return undefined;
    }

    switch (m.type) {
      case 'hup':
        if (this.state === 'leader') return undefined;
        if (m.transfer) this.campaign('transfer');
        else this.campaign(this.preVote ? 'preElection' : 'election');
        return undefined;
      case 'vote': {
        // We can vote for m.from if we already did this term, or have voted for nobody and know
        // no leader, or it is a pre-vote for a later term.
        const canVote = this.vote === m.from || (this.vote === NONE && this.lead === NONE) || (m.pre && m.term > this.term);
        if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
          // Reply in the term of the request so a pre-candidate does not ignore it as stale.
          this.send({ type: 'voteResp', from: this.id, to: m.from, term: m.term, reject: false, pre: m.pre });
          if (!m.pre) {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send({ type: 'voteResp', from: this.id, to: m.from, term: this.term, reject: true, pre: m.pre });
        }
        return undefined;
      }
      default:
        switch (this.state) {
          case 'leader':
            return this.stepLeader(m);
          case 'candidate':
          case 'preCandidate':
            return this.stepCandidate(m);
          case 'follower':
            return this.stepFollower(m);
          default:
            return assertNever(this.state, 'raft state');
        }
    }
  }

  private stepLeader(m: Message): RaftError | undefined {
    switch (m.type) {
      case 'beat':
        this.bcastHeartbeat();
        return undefined;
      case 'checkQuorum':
        if (!this.quorumActive()) this.becomeFollower(this.term, NONE);
        for (const [id, pr] of this.prs) if (id !== this.id) pr.recentActive = false;
        return undefined;
      case 'prop':
        return this.leaderPropose(m.entries);
      case 'readIndex':
        if (this.voters().length === 1 && this.promotable()) {
          this.answerRead(m.from, this.log.committed, m.context);
          return undefined;
        }
        if (this.log.term(this.log.committed) !== this.term) {
          // A new leader does not know the commit index until an entry of its term commits.
          this.pendingReadIndex.push(m);
          return undefined;
        }
        this.addReadIndex(m.from, m.context);
        return undefined;
      default:
        break;
    }

    const pr = this.prs.get(m.from);
    if (!pr) return undefined;
    switch (m.type) {
      case 'appResp':
        pr.recentActive = true;
        if (m.reject) {
          let hint = m.rejectHint;
          if (m.logTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.logTerm);
          if (pr.maybeDecrTo(m.index, hint)) {
            if (pr.state === 'replicate') pr.becomeProbe();
            this.sendAppend(m.from);
          }
          return undefined;
        }
        {
          const wasPaused = pr.isPaused();
          if (pr.maybeUpdate(m.index)) {
            if (pr.state === 'probe') pr.becomeReplicate();
            else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeProbe();
            else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);

            if (this.maybeCommit()) {
              this.afterCommitAdvanced();
            } else if (wasPaused) {
              this.sendAppend(m.from);
            }
            // Fill the pipeline while the window has room.
            while (this.maybeSendAppend(m.from, false)) { /* keep sending */ }
            if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
              this.send({ type: 'timeoutNow', from: this.id, to: m.from, term: this.term });
            }
          }
        }
        return undefined;
      case 'heartbeatResp':
        pr.recentActive = true;
        pr.probeSent = false;
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
        if (m.context.length > 0) this.recvReadAck(m.from, m.context);
        return undefined;
      case 'snapStatus':
        if (pr.state !== 'snapshot') return undefined;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for the follower's answer to the snapshot before probing further.
        pr.probeSent = true;
        return undefined;
      case 'unreachable':
        if (pr.state === 'replicate') pr.becomeProbe();
        return undefined;
      case 'transferLeader': {
        if (pr.isLearner) return undefined;
        const target = m.from;
        if (this.leadTransferee === target) return undefined;
        if (target === this.id) return undefined;
        this.leadTransferee = target;
        this.electionElapsed = 0; // the transfer must finish within one election timeout
        if (pr.match === this.log.lastIndex()) {
          this.send({ type: 'timeoutNow', from: this.id, to: target, term: this.term });
        } else {
          this.sendAppend(target);
        }
        return undefined;
      }
      default:
        return undefined;
    }
  }

  private leaderPropose(entries: Entry[]): RaftError | undefined {
    if (entries.length === 0) throw new Error('raft: empty proposal');
    if (!this.prs.has(this.id)) return new RaftError('PROPOSAL_DROPPED', 'this member was removed from the cluster');
    if (this.leadTransferee !== NONE) {
      return new RaftError('PROPOSAL_DROPPED', `leadership is being transferred to ${this.leadTransferee}`);
    }
    const confAt = entries.findIndex((e) => e.type === 'confChange');
    if (confAt >= 0) {
      if (entries.length !== 1) return new RaftError('INVALID_CONF_CHANGE', 'a membership change must be proposed alone');
      if (this.pendingConfIndex > this.log.committed) {
        return new RaftError('CONF_CHANGE_PENDING', 'another membership change is still in progress; retry when it completes');
      }
      const next = applyConfChange(this.config.current(), decodeConfChange(entries[0].data));
      if (typeof next === 'string') return new RaftError('INVALID_CONF_CHANGE', next);
      this.pendingConfIndex = this.log.lastIndex() + 1;
    }
    this.appendEntries(entries);
    this.bcastAppend();
    return undefined;
  }

  private stepCandidate(m: Message): RaftError | undefined {
    switch (m.type) {
      case 'prop':
        return new RaftError('PROPOSAL_DROPPED', 'no leader: an election is in progress');
      case 'app':
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return undefined;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return undefined;
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return undefined;
      case 'voteResp': {
        if (m.pre !== (this.state === 'preCandidate')) return undefined;
        const res = this.poll(m.from, !m.reject);
        if (res === 'won') {
          if (this.state === 'preCandidate') this.campaign('election');
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (res === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return undefined;
      }
      case 'readIndex':
        return new RaftError('PROPOSAL_DROPPED', 'no leader: an election is in progress');
      default:
        return undefined;
    }
  }

  private stepFollower(m: Message): RaftError | undefined {
    switch (m.type) {
      case 'prop':
        if (this.lead === NONE) return new RaftError('PROPOSAL_DROPPED', 'no leader is known');
        this.send({ ...m, to: this.lead });
        return undefined;
      case 'app':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return undefined;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return undefined;
      case 'snap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return undefined;
      case 'transferLeader':
        if (this.lead === NONE) return new RaftError('PROPOSAL_DROPPED', 'no leader to transfer from');
        this.send({ ...m, to: this.lead });
        return undefined;
      case 'timeoutNow':
        // The leader hands over: campaign at once, skipping pre-vote and the voters' lease.
        this.campaign('transfer');
        return undefined;
      case 'readIndex':
        if (this.lead === NONE) return new RaftError('PROPOSAL_DROPPED', 'no leader is known');
        this.send({ ...m, to: this.lead });
        return undefined;
      case 'readIndexResp':
        this.readStates.push({ index: m.index, context: m.context });
        return undefined;
      default:
        return undefined;
    }
  }

  // ---- follower handlers --------------------------------------------------------------------

  private handleAppend(m: Extract<Message, { type: 'app' }>): void {
    if (m.index < this.log.committed) {
      this.send({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: this.log.committed, reject: false, rejectHint: 0, logTerm: 0 });
      return;
    }
    const confBefore = this.config.current();
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries, (from) => this.config.truncateFrom(from));
    if (lastNew !== undefined) {
      // Overwritten entries may have taken a membership change with them, and new ones may bring one.
      if (m.entries.length > 0) this.config.observe(m.entries);
      if (this.config.current() !== confBefore) this.syncProgress();
      this.send({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: lastNew, reject: false, rejectHint: 0, logTerm: 0 });
      return;
    }
    // Tell the leader where our log might match so it can skip a whole term per round trip.
    let hint = Math.min(m.index, this.log.lastIndex());
    hint = this.log.findConflictByTerm(hint, m.logTerm);
    const hintTerm = this.log.term(hint) ?? 0;
    this.send({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: m.index, reject: true, rejectHint: hint, logTerm: hintTerm });
  }

  private handleHeartbeat(m: Extract<Message, { type: 'heartbeat' }>): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: 'heartbeatResp', from: this.id, to: m.from, term: this.term, context: m.context });
  }

  private handleSnapshot(m: Extract<Message, { type: 'snap' }>): void {
    const s = m.snapshot.metadata;
    if (this.restore(m.snapshot)) {
      this.send({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: this.log.lastIndex(), reject: false, rejectHint: 0, logTerm: 0 });
    } else {
      void s;
      this.send({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: this.log.committed, reject: false, rejectHint: 0, logTerm: 0 });
    }
  }

  /** Installs a snapshot from the leader. False if it tells us nothing new. */
  private restore(s: Snapshot): boolean {
    const meta = s.metadata;
    if (meta.index <= this.log.committed) return false;
    if (this.state !== 'follower') throw new Error('raft: only a follower installs a snapshot');
    if (this.log.matchTerm(meta.index, meta.term)) {
      // We already have the entries: just move commit forward.
      this.log.commitTo(meta.index);
      return false;
    }
    this.log.restore(s);
    this.config.reset(meta.confState);
    this.syncProgress();
    return true;
  }

  // ---- leader helpers -----------------------------------------------------------------------

  private appendEntries(entries: readonly Entry[]): void {
    let li = this.log.lastIndex();
    const stamped = entries.map((e) => ({ term: this.term, index: ++li, type: e.type, data: e.data }));
    this.log.append(stamped);
    if (this.config.observe(stamped)) this.syncProgress();
    // The leader counts its own copy only once the host reports it durable (see advance).
  }

  /** The host persisted entries up to `index`: a leader may now count its own copy. */
  onPersisted(): void {
    if (this.state !== 'leader') return;
    const self = this.prs.get(this.id);
    if (self && self.maybeUpdate(this.log.stableLastIndex())) {
      if (this.maybeCommit()) this.afterCommitAdvanced();
    }
  }

  private maybeCommit(): boolean {
    const idx = committedIndex(this.voters(), (id) => this.prs.get(id)?.match ?? 0);
    if (!this.log.maybeCommit(idx, this.term)) return false;
    this.afterCommit();
    return true;
  }

  private afterCommit(): void {
    // A leader that removed itself steps down once the change commits.
    if (!this.promotable() && this.state === 'leader' && this.pendingConfIndex <= this.log.committed) {
      this.handOffAfterRemoval();
      return;
    }
    if (this.pendingReadIndex.length > 0 && this.log.term(this.log.committed) === this.term) {
      const pending = this.pendingReadIndex;
      this.pendingReadIndex = [];
      for (const m of pending) if (m.type === 'readIndex') this.addReadIndex(m.from, m.context);
    }
  }

  private handOffAfterRemoval(): void {
    // Give the most up-to-date remaining voter a head start instead of waiting for a timeout.
    let best: Progress | undefined;
    for (const id of this.voters()) {
      const pr = this.prs.get(id);
      if (pr && (!best || pr.match > best.match)) best = pr;
    }
    if (best && best.match === this.log.lastIndex()) {
      this.send({ type: 'timeoutNow', from: this.id, to: best.id, term: this.term });
    }
    this.becomeFollower(this.term, NONE);
  }

  private quorumActive(): boolean {
    const active = new Map<NodeId, boolean>();
    for (const id of this.voters()) {
      const pr = this.prs.get(id);
      active.set(id, id === this.id || (pr?.recentActive ?? false));
    }
    return voteResult(this.voters(), active) === 'won';
  }

  private addReadIndex(from: NodeId, context: Uint8Array): void {
    this.readOnly.add(this.log.committed, from, context);
    this.recvReadAck(this.id, context);
    this.bcastHeartbeat(context);
  }

  private recvReadAck(from: NodeId, context: Uint8Array): void {
    const acks = this.readOnly.recvAck(from, context);
    if (!acks) return;
    const votes = new Map<NodeId, boolean>();
    for (const id of acks) votes.set(id, true);
    if (!this.promotable()) votes.delete(this.id);
    if (voteResult(this.voters(), votes) !== 'won') return;
    for (const r of this.readOnly.advance(context)) this.answerRead(r.from, r.index, r.context);
  }

  private answerRead(from: NodeId, index: number, context: Uint8Array): void {
    if (from === NONE || from === this.id) this.readStates.push({ index, context });
    else this.send({ type: 'readIndexResp', from: this.id, to: from, term: this.term, index, context });
  }

  /** Makes `prs` match the configuration in force, keeping existing progress. */
  private syncProgress(): void {
    const cs = this.config.current();
    const want = new Map<NodeId, boolean>();
    for (const id of cs.voters) want.set(id, false);
    for (const id of cs.learners) want.set(id, true);
    for (const id of [...this.prs.keys()]) if (!want.has(id)) this.prs.delete(id);
    const last = this.log.lastIndex();
    for (const [id, learner] of want) {
      const pr = this.prs.get(id);
      if (pr) {
        pr.isLearner = learner;
      } else {
        const fresh = new Progress(id, last + 1, this.maxInflight, learner);
        if (id === this.id) fresh.match = this.log.stableLastIndex();
        // A new member is presumed alive so check-quorum does not depose us before it answers.
        fresh.recentActive = true;
        this.prs.set(id, fresh);
      }
    }
    if (this.leadTransferee !== NONE && !want.has(this.leadTransferee)) this.leadTransferee = NONE;
    if (this.state === 'leader') {
      // The quorum changed: what it has acknowledged may now be committed.
      this.maybeCommit();
    }
  }
}

const EMPTY = new Uint8Array(0);
