/**
 * A whole Raft cluster inside one process, in virtual time, driven by a seeded random source:
 * lossy, duplicating, reordering network; partitions; crashes (losing everything not yet
 * persisted) and restarts; snapshots and compaction; membership changes. After every step it
 * checks the Raft safety properties and throws a SafetyViolation naming the seed.
 *
 * Used by raft.sim.test.ts; kept in src so other packages' tests can reuse it.
 */
import { RawNode, bootstrapEntries, type Ready } from './rawnode.js';
import { MemoryStorage } from './storage.js';
import { decodeConfChange } from './confchange.js';
import { NONE, type Entry, type Message, type NodeId } from './types.js';

/** mulberry32: tiny, fast, good enough for schedules; deterministic per seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class SafetyViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetyViolation';
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

interface SimNode {
  id: NodeId;
  /** The durable part: survives crashes. */
  disk: MemoryStorage;
  node: RawNode | undefined;
  /** The state machine: data of every applied normal entry, in order, plus the index applied. */
  sm: { applied: number; log: string[] };
  /** Readies handed over with RawNode.applied() whose writes have not reached `disk` yet. */
  writing: Ready[];
}

interface InFlight {
  at: number;
  seq: number;
  m: Message;
}

export interface SimOptions {
  seed: number;
  initialVoters?: number;
  /** Ids that may be added later (learner, then voter). */
  spareIds?: number;
  dropRate?: number;
  dupRate?: number;
  /** Max extra delivery delay in virtual ticks (reordering). */
  maxDelay?: number;
}

export class Simulation {
  readonly rand: () => number;
  readonly nodes = new Map<NodeId, SimNode>();
  private net: InFlight[] = [];
  private seq = 0;
  now = 0;
  /** Pairs "a-b" that cannot talk (both directions). */
  private cut = new Set<string>();
  dropRate: number;
  dupRate: number;
  maxDelay: number;
  /** Chance that a node crashes after sending a Ready's early messages, before persisting it. */
  crashBeforePersistRate = 0.002;
  /**
   * Half the seeds run with deferCommitBroadcast, the member's setting, with hosts that call
   * broadcastCommit() at random moments (as the member's short timer does).
   */
  readonly deferCommitBroadcast: boolean;
  /**
   * Half the seeds run hosts that let writes run behind (RawNode.applied/persisted, as a leader
   * member does): most Readies are applied before their write lands, and the writes land at
   * random later moments, in order, or are lost in a crash.
   */
  readonly asyncWrites: boolean;
  private readonly allIds: NodeId[];

  // What the checkers remember.
  private leaderOfTerm = new Map<number, NodeId>();
  /** index → {term, data} of every entry any node applied: those are committed. */
  private committed = new Map<number, { term: number; data: string }>();
  private maxCommitted = 0;
  private proposals = 0;
  readonly stats = { elections: 0, applied: 0, appliedBeforeWrite: 0, reads: 0, snapshotsSent: 0, crashes: 0, confChanges: 0 };
  private pendingReads = new Map<string, number>();

  constructor(readonly opts: SimOptions) {
    this.rand = seededRandom(opts.seed);
    this.dropRate = opts.dropRate ?? 0;
    this.dupRate = opts.dupRate ?? 0;
    this.maxDelay = opts.maxDelay ?? 3;
    this.deferCommitBroadcast = this.rand() < 0.5;
    this.asyncWrites = this.rand() < 0.5;
    const n = opts.initialVoters ?? 3;
    const spare = opts.spareIds ?? 0;
    this.allIds = Array.from({ length: n + spare }, (_, i) => i + 1);
    const boot = bootstrapEntries(this.allIds.slice(0, n).map((id) => ({ id, context: new Uint8Array(0) })));
    for (const id of this.allIds) {
      const disk = new MemoryStorage();
      if (id <= n) {
        disk.append(boot.entries);
        disk.setHardState(boot.hardState);
      }
      this.nodes.set(id, { id, disk, node: undefined, sm: { applied: 0, log: [] }, writing: [] });
      if (id <= n) this.start(id);
    }
  }

  private fail(msg: string): never {
    throw new SafetyViolation(`SEED=${this.opts.seed} t=${this.now}: ${msg}`);
  }

  start(id: NodeId): void {
    const n = this.nodes.get(id)!;
    const snap = n.disk.snapshot();
    // The state machine restarts from the snapshot (its durable copy) and replays the log.
    n.sm = snap.metadata.index > 0 ? JSON.parse(dec.decode(snap.data)) : { applied: 0, log: [] };
    n.node = new RawNode({ id, storage: n.disk, applied: n.sm.applied, random: this.rand, electionTick: 10, heartbeatTick: 1, maxInflightMsgs: 8, maxSizePerMsg: 256, deferCommitBroadcast: this.deferCommitBroadcast });
  }

  isUp(id: NodeId): boolean {
    return this.nodes.get(id)?.node !== undefined;
  }

  /** Everything not persisted is lost: unstable entries, volatile state, in-flight Ready. */
  crash(id: NodeId): void {
    const n = this.nodes.get(id)!;
    if (!n.node) return;
    n.node = undefined;
    n.writing = [];
    this.stats.crashes++;
  }

  partition(a: NodeId, b: NodeId): void {
    this.cut.add(a < b ? `${a}-${b}` : `${b}-${a}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.allIds) if (other !== id) this.partition(id, other);
  }

  heal(): void {
    this.cut.clear();
  }

  private connected(a: NodeId, b: NodeId): boolean {
    return !this.cut.has(a < b ? `${a}-${b}` : `${b}-${a}`);
  }

  leaders(): NodeId[] {
    const out: NodeId[] = [];
    for (const n of this.nodes.values()) if (n.node?.raft.state === 'leader') out.push(n.id);
    return out;
  }

  /** Highest-term live leader, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.node?.raft.state === 'leader' && (!best || n.node.raft.term > best.node!.raft.term)) best = n;
    }
    return best;
  }

  propose(id: NodeId): void {
    const n = this.nodes.get(id)!;
    if (!n.node) return;
    n.node.propose(enc.encode(`p${this.opts.seed}-${++this.proposals}`));
    this.process(id);
  }

  proposeConfChange(type: 'addLearner' | 'addNode' | 'removeNode', nodeId: NodeId): void {
    const l = this.leader();
    if (!l) return;
    const err = l.node!.proposeConfChange({ type, nodeId, context: new Uint8Array(0) });
    if (!err) this.stats.confChanges++;
    this.process(l.id);
  }

  /** Starts a linearizable read at `id`; the check runs when its ReadState comes back. */
  read(id: NodeId): void {
    const n = this.nodes.get(id)!;
    if (!n.node) return;
    const ctx = `r${++this.seq}`;
    // Every write acknowledged before now must be visible to this read.
    this.pendingReads.set(ctx, this.maxCommitted);
    n.node.readIndex(enc.encode(ctx));
    this.process(id);
  }

  transferLeader(to: NodeId): void {
    const l = this.leader();
    if (l) {
      l.node!.transferLeader(to);
      this.process(l.id);
    }
  }

  /** A member takes a snapshot of its state machine and compacts its log. */
  snapshot(id: NodeId, keep: number): void {
    const n = this.nodes.get(id)!;
    if (!n.node) return;
    const applied = n.sm.applied;
    if (applied <= n.disk.snapshot().metadata.index || applied > n.disk.lastIndex()) return;
    const cs = n.node.raft.config.at(applied);
    n.disk.createSnapshot(applied, cs, enc.encode(JSON.stringify(n.sm)));
    if (applied - keep > n.disk.firstIndex()) n.disk.compact(applied - keep);
  }

  tick(id: NodeId): void {
    const n = this.nodes.get(id)!;
    if (!n.node) return;
    n.node.tick();
    this.process(id);
  }

  private send(msgs: readonly Message[]): void {
    for (const m of msgs) {
      if (m.type === 'snap') this.stats.snapshotsSent++;
      if (this.rand() < this.dropRate || !this.connected(m.from, m.to)) {
        if (m.type === 'snap') this.reportSnap(m.from, m.to, false);
        continue;
      }
      const copies = this.rand() < this.dupRate ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        this.net.push({ at: this.now + 1 + Math.floor(this.rand() * this.maxDelay), seq: this.seq++, m });
      }
    }
  }

  private reportSnap(leader: NodeId, to: NodeId, ok: boolean): void {
    const l = this.nodes.get(leader)?.node;
    if (l) l.reportSnapshot(to, ok);
  }

  /** Runs the host loop of one node until it has nothing left to do. */
  process(id: NodeId): void {
    const n = this.nodes.get(id)!;
    for (let guard = 0; n.node && n.node.hasReady(); guard++) {
      if (guard > 10_000) this.fail(`node ${id} never runs out of Ready`);
      const node = n.node;
      const rd = node.ready();
      this.send(rd.messages);
      // Crash between sending the leader's early messages and persisting (rare, but it is the
      // window that "the leader counts itself only once durable" is about).
      if (this.rand() < this.crashBeforePersistRate) {
        this.crash(id);
        return;
      }
      if (this.asyncWrites && !rd.snapshot && this.rand() < 0.8) {
        this.applyReady(n, rd);
        node.applied(rd);
        n.writing.push(rd);
      } else {
        // The synchronous form needs every earlier write finished first.
        this.finishWrites(n, n.writing.length);
        if (n.node !== node) return;
        this.persist(n, rd);
        this.send(rd.messagesAfterPersist);
        this.applyReady(n, rd);
        node.advance(rd);
      }
      this.checkLeader(n);
    }
  }

  /** The oldest `count` queued writes of node n land on its disk, in order. */
  private finishWrites(n: SimNode, count: number): void {
    for (let i = 0; i < count && n.node && n.writing.length > 0; i++) {
      const rd = n.writing.shift()!;
      this.persist(n, rd);
      this.send(rd.messagesAfterPersist);
      n.node.persisted(rd);
    }
  }

  private persist(n: SimNode, rd: Ready): void {
    if (rd.snapshot) n.disk.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) n.disk.append(rd.entries);
    if (rd.hardState) n.disk.setHardState(rd.hardState);
  }

  private applyReady(n: SimNode, rd: Ready): void {
    if (rd.snapshot) {
      const restored = JSON.parse(dec.decode(rd.snapshot.data)) as SimNode['sm'];
      if (restored.applied !== rd.snapshot.metadata.index) this.fail(`snapshot ${rd.snapshot.metadata.index} holds state at ${restored.applied}`);
      if (restored.applied > n.sm.applied) n.sm = restored;
    }
    for (const e of rd.committedEntries) this.applyEntry(n, e);
    for (const rs of rd.readStates) {
      const ctx = dec.decode(rs.context);
      const floor = this.pendingReads.get(ctx);
      if (floor === undefined) continue; // duplicate answer
      this.pendingReads.delete(ctx);
      this.stats.reads++;
      if (rs.index < floor) this.fail(`read ${ctx} got read index ${rs.index}, but ${floor} was committed before it started`);
    }
  }

  private applyEntry(n: SimNode, e: Entry): void {
    if (e.index !== n.sm.applied + 1) this.fail(`node ${n.id} applies ${e.index} after ${n.sm.applied}`);
    const data = e.type === 'confChange' ? `cc:${JSON.stringify(decodeConfChange(e.data))}` : dec.decode(e.data);
    const seen = this.committed.get(e.index);
    if (seen && (seen.term !== e.term || seen.data !== data)) {
      this.fail(`state machine safety: node ${n.id} applied ${JSON.stringify({ term: e.term, data })} at ${e.index}, another applied ${JSON.stringify(seen)}`);
    }
    if (!seen) this.committed.set(e.index, { term: e.term, data });
    if (e.index > this.maxCommitted) this.maxCommitted = e.index;
    n.sm.applied = e.index;
    n.sm.log.push(data);
    this.stats.applied++;
    if (e.index > n.disk.lastIndex()) this.stats.appliedBeforeWrite++;
  }

  private checkLeader(n: SimNode): void {
    const r = n.node?.raft;
    if (!r || r.state !== 'leader') return;
    const prev = this.leaderOfTerm.get(r.term);
    if (prev === undefined) {
      this.leaderOfTerm.set(r.term, n.id);
      this.stats.elections++;
      // Leader completeness: a new leader holds every committed entry it has not compacted.
      const first = r.log.firstIndex();
      for (const [index, c] of this.committed) {
        if (index < first) continue;
        const t = r.log.term(index);
        if (t !== c.term) this.fail(`leader completeness: leader ${n.id} of term ${r.term} has term ${t} at committed index ${index} (term ${c.term})`);
      }
    } else if (prev !== n.id) {
      this.fail(`election safety: ${prev} and ${n.id} both lead term ${r.term}`);
    }
  }

  /** Log matching: if two durable logs agree on the term at an index, they agree before it. */
  checkLogMatching(): void {
    const nodes = [...this.nodes.values()];
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        const a = nodes[i].disk;
        const b = nodes[j].disk;
        const lo = Math.max(a.firstIndex(), b.firstIndex());
        const hi = Math.min(a.lastIndex(), b.lastIndex());
        if (hi < lo) continue;
        const ea = a.entries(lo, hi + 1, Number.MAX_SAFE_INTEGER);
        const eb = b.entries(lo, hi + 1, Number.MAX_SAFE_INTEGER);
        let agreeFrom = -1;
        for (let k = ea.length - 1; k >= 0; k--) {
          if (ea[k].term === eb[k].term) {
            agreeFrom = k;
            break;
          }
        }
        for (let k = 0; k <= agreeFrom; k++) {
          if (ea[k].term !== eb[k].term || Buffer.compare(ea[k].data, eb[k].data) !== 0) {
            this.fail(`log matching: nodes ${nodes[i].id} and ${nodes[j].id} agree at ${ea[agreeFrom].index} but differ at ${ea[k].index}`);
          }
        }
      }
    }
  }

  /** Advances virtual time by one tick: every live node ticks, due messages are delivered. */
  step(): void {
    this.now++;
    for (const id of this.allIds) if (this.isUp(id)) this.tick(id);
    for (const id of this.allIds) {
      const n = this.nodes.get(id)!;
      if (n.node && n.writing.length > 0 && this.rand() < 0.6) {
        this.finishWrites(n, 1 + Math.floor(this.rand() * n.writing.length));
        this.process(id);
      }
    }
    if (this.deferCommitBroadcast) {
      for (const id of this.allIds) {
        const node = this.nodes.get(id)!.node;
        if (node?.hasUnsentCommit() && this.rand() < 0.5) {
          node.broadcastCommit();
          this.process(id);
        }
      }
    }
    const due = this.net.filter((f) => f.at <= this.now);
    this.net = this.net.filter((f) => f.at > this.now);
    // Deliver in random order: reordering beyond the random delays.
    for (let i = due.length - 1; i > 0; i--) {
      const j = Math.floor(this.rand() * (i + 1));
      [due[i], due[j]] = [due[j], due[i]];
    }
    for (const f of due) this.deliver(f.m);
  }

  private deliver(m: Message): void {
    const to = this.nodes.get(m.to);
    if (!to?.node || !this.connected(m.from, m.to)) {
      if (m.type === 'snap') this.reportSnap(m.from, m.to, false);
      return;
    }
    to.node.step(m);
    this.process(m.to);
    if (m.type === 'snap') this.reportSnap(m.from, m.to, true);
  }

  /** Voters of the newest configuration any live leader knows (or of node 1). */
  members(): { voters: readonly NodeId[]; learners: readonly NodeId[] } {
    const l = this.leader();
    const r = (l ?? [...this.nodes.values()].find((n) => n.node))?.node?.raft;
    return r ? r.confState() : { voters: [], learners: [] };
  }

  get ids(): readonly NodeId[] {
    return this.allIds;
  }

  /** Runs until `pred` holds or `maxTicks` pass; returns whether it held. */
  runUntil(pred: () => boolean, maxTicks: number): boolean {
    for (let i = 0; i < maxTicks; i++) {
      if (pred()) return true;
      this.step();
    }
    return pred();
  }

  appliedIndex(id: NodeId): number {
    return this.nodes.get(id)!.sm.applied;
  }

  committedCount(): number {
    return this.maxCommitted;
  }

  noLeader(): boolean {
    return this.leaders().length === 0;
  }
}

export { NONE };
