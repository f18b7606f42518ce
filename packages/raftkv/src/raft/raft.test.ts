/**
 * Scenario tests of the core, named after the Raft dissertation's sections. A tiny in-memory
 * network delivers every message synchronously until the cluster is quiet, so each scenario is
 * deterministic.
 */
import { describe, expect, it } from 'vitest';
import { RawNode, bootstrapEntries } from './rawnode.js';
import { MemoryStorage } from './storage.js';
import { seededRandom } from './simulation.js';
import type { Message, NodeId } from './types.js';

class Net {
  readonly nodes = new Map<NodeId, RawNode>();
  readonly storages = new Map<NodeId, MemoryStorage>();
  readonly cut = new Set<NodeId>();
  readonly sent: Message[] = [];
  applied = new Map<NodeId, string[]>();
  readStates = new Map<NodeId, { index: number; ctx: string }[]>();

  constructor(n: number, opts: { learners?: number; deferCommitBroadcast?: boolean } = {}) {
    const voters = Array.from({ length: n }, (_, i) => i + 1);
    const boot = bootstrapEntries(voters.map((id) => ({ id, context: new Uint8Array(0) })));
    const learners = Array.from({ length: opts.learners ?? 0 }, (_, i) => n + i + 1);
    for (const id of [...voters, ...learners]) {
      const s = new MemoryStorage();
      s.append(boot.entries);
      s.setHardState(boot.hardState);
      this.storages.set(id, s);
      this.nodes.set(id, new RawNode({ id, storage: s, random: seededRandom(id), electionTick: 10, heartbeatTick: 1, deferCommitBroadcast: opts.deferCommitBroadcast }));
      this.applied.set(id, []);
      this.readStates.set(id, []);
    }
  }

  node(id: NodeId): RawNode {
    return this.nodes.get(id)!;
  }

  /** Processes every Ready and delivers every message until nothing moves. */
  settle(): void {
    for (let round = 0; round < 1000; round++) {
      let moved = false;
      for (const [id, n] of this.nodes) {
        while (n.hasReady()) {
          moved = true;
          const rd = n.ready();
          const s = this.storages.get(id)!;
          if (rd.snapshot) s.applySnapshot(rd.snapshot);
          s.append(rd.entries);
          if (rd.hardState) s.setHardState(rd.hardState);
          for (const e of rd.committedEntries) if (e.type === 'normal' && e.data.length > 0) this.applied.get(id)!.push(new TextDecoder().decode(e.data));
          for (const rs of rd.readStates) this.readStates.get(id)!.push({ index: rs.index, ctx: new TextDecoder().decode(rs.context) });
          for (const m of [...rd.messages, ...rd.messagesAfterPersist]) this.deliver(m);
          n.advance(rd);
        }
      }
      if (!moved) return;
    }
    throw new Error('network did not settle');
  }

  private deliver(m: Message): void {
    this.sent.push(m);
    if (this.cut.has(m.from) || this.cut.has(m.to)) return;
    this.nodes.get(m.to)?.step(m);
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) {
      this.node(id).tick();
      this.settle();
    }
  }

  tickAll(times: number): void {
    for (let i = 0; i < times; i++) {
      for (const n of this.nodes.values()) n.tick();
      this.settle();
    }
  }

  elect(id: NodeId): void {
    this.node(id).campaign();
    this.settle();
    expect(this.node(id).raft.state).toBe('leader');
  }

  /** Ticks `ids` (others are assumed cut off) until one of them leads; returns it. */
  electAmong(ids: NodeId[]): NodeId {
    for (let i = 0; i < 100; i++) {
      for (const id of ids) this.node(id).tick();
      this.settle();
      const l = ids.find((id) => this.node(id).raft.state === 'leader');
      if (l !== undefined) return l;
    }
    throw new Error(`no leader among ${ids.join(',')}`);
  }

  propose(id: NodeId, text: string): void {
    this.node(id).propose(new TextEncoder().encode(text));
    this.settle();
  }
}

describe('§3.4 leader election', () => {
  it('elects a campaigning node with the votes of a majority, in a new term', () => {
    const net = new Net(3);
    net.elect(1);
    expect(net.node(1).raft.term).toBe(2);
    expect(net.node(2).raft.lead).toBe(1);
    expect(net.node(3).raft.lead).toBe(1);
  });

  it('elects a leader by timeout alone', () => {
    const net = new Net(3);
    net.tickAll(25);
    const leaders = [...net.nodes.values()].filter((n) => n.raft.state === 'leader');
    expect(leaders).toHaveLength(1);
  });

  it('a candidate without a majority does not win', () => {
    const net = new Net(3);
    net.cut.add(2);
    net.cut.add(3);
    net.node(1).campaign();
    net.settle();
    expect(net.node(1).raft.state).not.toBe('leader');
  });
});

describe('§9.6 pre-vote and check-quorum', () => {
  it('a node returning from a partition does not disrupt the leader or raise the term', () => {
    const net = new Net(3);
    net.elect(1);
    net.cut.add(3);
    net.tick(3, 100); // many election timeouts in isolation
    expect(net.node(3).raft.term).toBe(2); // pre-vote never succeeded, so the term did not move
    net.cut.delete(3);
    net.tickAll(5);
    expect(net.node(1).raft.state).toBe('leader');
    expect(net.node(1).raft.term).toBe(2);
  });

  it('a leader cut off from its quorum steps down after an election timeout', () => {
    const net = new Net(3);
    net.elect(1);
    net.cut.add(1);
    net.tick(1, 25);
    expect(net.node(1).raft.state).toBe('follower');
  });
});

describe('§3.5 log replication and §3.6 safety', () => {
  it('replicates and commits proposals on every member', () => {
    const net = new Net(3);
    net.elect(1);
    for (let i = 0; i < 10; i++) net.propose(1, `cmd${i}`);
    net.tickAll(2);
    for (const id of [1, 2, 3]) expect(net.applied.get(id)).toEqual(Array.from({ length: 10 }, (_, i) => `cmd${i}`));
  });

  it('tells followers of a commit at once by default, and only when asked with deferCommitBroadcast', () => {
    const emptyAppends = (net: Net): Message[] => net.sent.filter((m) => m.type === 'app' && m.entries.length === 0);
    const eager = new Net(3);
    eager.elect(1);
    eager.sent.length = 0;
    eager.propose(1, 'x');
    expect(emptyAppends(eager).map((m) => m.to).sort()).toEqual([2, 3]);
    expect(eager.applied.get(2)).toEqual(['x']);

    const lazy = new Net(3, { deferCommitBroadcast: true });
    lazy.elect(1);
    lazy.sent.length = 0;
    lazy.propose(1, 'x');
    expect(lazy.applied.get(1)).toEqual(['x']); // the leader commits and applies as before
    expect(emptyAppends(lazy)).toEqual([]);
    expect(lazy.applied.get(2)).toEqual([]);
    expect(lazy.node(1).hasUnsentCommit()).toBe(true);
    // The next write carries the commit index of the one before.
    lazy.propose(1, 'y');
    expect(lazy.applied.get(2)).toEqual(['x']);
    lazy.node(1).broadcastCommit();
    lazy.settle();
    expect(emptyAppends(lazy).map((m) => m.to).sort()).toEqual([2, 3]);
    for (const id of [2, 3]) expect(lazy.applied.get(id)).toEqual(['x', 'y']);
    expect(lazy.node(1).hasUnsentCommit()).toBe(false);
    lazy.node(1).broadcastCommit(); // nothing new to tell: sends nothing
    lazy.settle();
    expect(emptyAppends(lazy)).toHaveLength(2);
  });

  it('with deferCommitBroadcast, heartbeats alone bring followers up to the commit index', () => {
    const net = new Net(3, { deferCommitBroadcast: true });
    net.elect(1);
    net.propose(1, 'x');
    expect(net.applied.get(3)).toEqual([]);
    net.tick(1, 1);
    for (const id of [2, 3]) expect(net.applied.get(id)).toEqual(['x']);
  });

  it('does not commit by counting replicas of an entry from an earlier term (figure 3.7)', () => {
    const net = new Net(3);
    net.elect(1);
    net.cut.add(2);
    net.cut.add(3);
    net.propose(1, 'lonely'); // appended on 1 only
    expect(net.applied.get(1)).toEqual([]);
    net.cut.clear();
    net.cut.add(1);
    const l = net.electAmong([2, 3]);
    net.propose(l, 'winner');
    net.cut.clear();
    net.tickAll(3);
    // 'lonely' was overwritten everywhere; only the new leader's entry is applied.
    for (const id of [1, 2, 3]) expect(net.applied.get(id)).toEqual(['winner']);
  });

  it('repairs a long divergent follower log in a few round trips (fast backtracking)', () => {
    const net = new Net(3);
    net.elect(1);
    net.cut.add(2);
    net.cut.add(3);
    for (let i = 0; i < 200; i++) net.node(1).propose(new TextEncoder().encode(`stale${i}`));
    net.settle();
    net.cut.clear();
    net.cut.add(1);
    const l = net.electAmong([2, 3]);
    net.propose(l, 'fresh');
    net.cut.clear();
    net.sent.length = 0;
    net.tickAll(3);
    const rejects = net.sent.filter((m) => m.type === 'appResp' && m.reject && m.from === 1).length;
    expect(rejects).toBeLessThanOrEqual(3);
    expect(net.applied.get(1)).toEqual(['fresh']);
  });
});

describe('§6.4 ReadIndex', () => {
  it('confirms leadership with a quorum before answering a read', () => {
    const net = new Net(3);
    net.elect(1);
    net.propose(1, 'x');
    net.sent.length = 0;
    net.node(1).readIndex(new TextEncoder().encode('ctx1'));
    net.settle();
    expect(net.readStates.get(1)).toEqual([{ index: net.node(1).raft.log.committed, ctx: 'ctx1' }]);
    // It took a heartbeat round carrying the context, not a log write.
    expect(net.sent.filter((m) => m.type === 'heartbeat').length).toBeGreaterThanOrEqual(2);
    expect(net.sent.filter((m) => m.type === 'app' && m.entries.length > 0)).toEqual([]);
  });

  it('serves a follower\'s read through the leader', () => {
    const net = new Net(3);
    net.elect(1);
    net.propose(1, 'x');
    net.node(2).readIndex(new TextEncoder().encode('f'));
    net.settle();
    expect(net.readStates.get(2)).toEqual([{ index: net.node(1).raft.log.committed, ctx: 'f' }]);
  });

  it('an isolated leader cannot complete a read', () => {
    const net = new Net(3);
    net.elect(1);
    net.cut.add(1);
    const n = net.node(1);
    n.readIndex(new TextEncoder().encode('ctx'));
    let answered = false;
    for (let i = 0; i < 5; i++) {
      while (n.hasReady()) {
        const r = n.ready();
        if (r.readStates.length > 0) answered = true;
        n.advance(r);
      }
      n.tick();
    }
    expect(answered).toBe(false);
  });
});

describe('§3.10 leadership transfer', () => {
  it('hands leadership to an up-to-date follower without waiting for a timeout', () => {
    const net = new Net(3);
    net.elect(1);
    net.propose(1, 'x');
    net.node(1).transferLeader(3);
    net.settle();
    expect(net.node(3).raft.state).toBe('leader');
    expect(net.node(1).raft.lead).toBe(3);
  });
});

describe('§4 membership: learners', () => {
  it('replicates to a learner without counting it in the quorum or letting it campaign', () => {
    const net = new Net(3, { learners: 1 });
    net.elect(1);
    net.node(1).proposeConfChange({ type: 'addLearner', nodeId: 4, context: new Uint8Array(0) });
    net.settle();
    net.propose(1, 'for-all');
    net.tickAll(2);
    expect(net.applied.get(4)).toEqual(['for-all']);
    expect(net.node(1).raft.confState().learners).toEqual([4]);
    net.tick(4, 50);
    expect(net.node(4).raft.state).toBe('follower');
    // With two voters cut off, the learner's acknowledgement must not commit anything.
    net.cut.add(2);
    net.cut.add(3);
    net.propose(1, 'needs-a-voter');
    expect(net.applied.get(1)).not.toContain('needs-a-voter');
  });

  it('refuses a second membership change while one is in flight', () => {
    const net = new Net(3, { learners: 2 });
    net.elect(1);
    net.cut.add(2);
    net.cut.add(3);
    expect(net.node(1).proposeConfChange({ type: 'addLearner', nodeId: 4, context: new Uint8Array(0) })).toBeUndefined();
    const err = net.node(1).proposeConfChange({ type: 'addLearner', nodeId: 5, context: new Uint8Array(0) });
    expect(err?.code).toBe('CONF_CHANGE_PENDING');
  });
});

describe('writes that run behind (RawNode.applied / persisted)', () => {
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);

  it('a leader applies what both followers made durable while its own write is unfinished, and counts itself only once persisted', () => {
    const net = new Net(3);
    net.elect(1);
    const leader = net.node(1);
    const disk = net.storages.get(1)!;
    leader.propose(text('fast-followers'));
    const rd = leader.ready();
    expect(rd.entries.map((e) => new TextDecoder().decode(e.data))).toEqual(['fast-followers']);
    leader.applied(rd); // its own write is queued, not done
    const index = rd.entries[0].index;
    expect(disk.lastIndex()).toBe(index - 1);

    // Only the followers' acknowledgements arrive and are processed.
    for (const m of rd.messages) net.nodes.get(m.to)!.step(m);
    const acks: Message[] = [];
    for (const id of [2, 3]) {
      const f = net.node(id);
      while (f.hasReady()) {
        const frd = f.ready();
        net.storages.get(id)!.append(frd.entries);
        if (frd.hardState) net.storages.get(id)!.setHardState(frd.hardState);
        acks.push(...frd.messages, ...frd.messagesAfterPersist);
        f.advance(frd);
      }
    }
    for (const m of acks) if (m.to === 1) leader.step(m);
    expect(leader.raft.log.committed).toBe(index);
    const next = leader.ready();
    expect(next.entries).toEqual([]); // never handed out twice
    expect(next.committedEntries.map((e) => e.index)).toEqual([index]);
    leader.applied(next);
    expect(leader.raft.log.applied).toBe(index);
    expect(leader.status().progress.get(1)?.match).toBe(index - 1);

    disk.append(rd.entries);
    leader.persisted(rd);
    expect(leader.status().progress.get(1)?.match).toBe(index);
    leader.propose(text('after'));
    leader.applied(leader.ready());
    // With a write still queued the synchronous form is refused, and the refused Ready stays
    // outstanding: its committed entries are not handed out (and applied) a second time.
    leader.propose(text('sync'));
    const sync = leader.ready();
    expect(() => leader.advance(sync)).toThrow(/writes queued/);
    expect(leader.hasReady()).toBe(false);
    expect(() => leader.ready()).toThrow(/before advance/);
  });

  it('a leader with only one follower acknowledging does not commit before its own write lands', () => {
    const net = new Net(3);
    net.elect(1);
    const leader = net.node(1);
    leader.propose(text('slow-leader'));
    const rd = leader.ready();
    leader.applied(rd);
    const toTwo = rd.messages.filter((m) => m.to === 2);
    for (const m of toTwo) net.node(2).step(m);
    const f = net.node(2);
    const frd = f.ready();
    net.storages.get(2)!.append(frd.entries);
    f.advance(frd);
    for (const m of [...frd.messages, ...frd.messagesAfterPersist]) if (m.to === 1) leader.step(m);
    const index = rd.entries[0].index;
    expect(leader.raft.log.committed).toBe(index - 1);
    net.storages.get(1)!.append(rd.entries);
    leader.persisted(rd);
    expect(leader.raft.log.committed).toBe(index);
  });

  it('hands out again the entries a new leader replaced while they were being written', () => {
    const boot = bootstrapEntries([1, 2, 3].map((id) => ({ id, context: new Uint8Array(0) })));
    const disk = new MemoryStorage();
    disk.append(boot.entries);
    disk.setHardState(boot.hardState);
    const node = new RawNode({ id: 2, storage: disk, random: seededRandom(2), electionTick: 10, heartbeatTick: 1 });
    const last = boot.entries.length;
    const entry = (index: number, term: number, s: string) => ({ index, term, type: 'normal' as const, data: text(s) });
    // Leader 1 of term 2 sends two entries; their write starts but does not finish.
    node.step({ type: 'app', from: 1, to: 2, term: 2, logTerm: 1, index: last, entries: [entry(last + 1, 2, 'a'), entry(last + 2, 2, 'b')], commit: last });
    const first = node.ready();
    expect(first.entries.map((e) => e.index)).toEqual([last + 1, last + 2]);
    node.applied(first);
    expect(node.hasReady()).toBe(false);
    // Leader 3 of term 3 keeps the first and replaces the second.
    node.step({ type: 'app', from: 3, to: 2, term: 3, logTerm: 2, index: last + 1, entries: [entry(last + 2, 3, 'b2')], commit: last });
    const second = node.ready();
    expect(second.entries.map((e) => [e.index, e.term])).toEqual([[last + 2, 3]]);
    node.applied(second);
    // The writes land in order; the first one's now-replaced last entry must not be marked stable.
    disk.append(first.entries);
    if (first.hardState) disk.setHardState(first.hardState);
    node.persisted(first);
    expect(node.raft.log.term(last + 2)).toBe(3);
    disk.append(second.entries);
    node.persisted(second);
    expect(disk.term(last + 2)).toBe(3);
    expect(node.raft.log.stableLastIndex()).toBe(last + 2);
    expect(node.hasReady()).toBe(false);

    // A replacement from below everything unstable is handed out whole.
    node.step({ type: 'app', from: 1, to: 2, term: 4, logTerm: 1, index: last, entries: [entry(last + 1, 4, 'c')], commit: last });
    const third = node.ready();
    expect(third.entries.map((e) => [e.index, e.term])).toEqual([[last + 1, 4]]);
  });

  it('refuses persisted() out of order', () => {
    const net = new Net(3);
    net.elect(1);
    const leader = net.node(1);
    leader.propose(text('x'));
    const a = leader.ready();
    leader.applied(a);
    leader.propose(text('y'));
    const b = leader.ready();
    leader.applied(b);
    expect(() => leader.persisted(b)).toThrow(/out of order/);
  });
});
