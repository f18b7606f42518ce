/**
 * A real 3-member raftkv cluster (three `flotilla raftkv` processes): SIGKILL the leader while
 * clients write; every acknowledged write must survive, the cluster must take writes again, and
 * the killed member must rejoin and catch up — from the log, and from a snapshot when it has
 * fallen behind the compacted log.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RaftKvClient } from '@flotilla/raftkv/client';
import { TestRaftKvCluster, trackClusters } from '../support/raftkv-cluster.js';
import { waitFor } from '../support/wait.js';

const track = trackClusters();
let cluster: TestRaftKvCluster | undefined;

const dec = new TextDecoder();

/** Writers that put distinct keys as fast as they can and remember every acknowledged one. */
function startWriters(client: RaftKvClient, n: number, prefix: string): { acked: Map<string, string>; stop: () => Promise<number> } {
  const acked = new Map<string, string>();
  let running = true;
  let failures = 0;
  const loops = Array.from({ length: n }, async (_, w) => {
    for (let i = 0; running && i < 100_000; i++) {
      const key = `${prefix}/${w}/${i}`;
      const value = `v-${w}-${i}`;
      try {
        await client.put(key, value);
        acked.set(key, value);
      } catch {
        failures++; // unacknowledged: may or may not be there, either is fine
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  });
  return {
    acked,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return failures;
    },
  };
}

async function expectAllPresent(client: RaftKvClient, acked: Map<string, string>, prefix: string): Promise<void> {
  const r = await client.get(prefix + '/', { prefix: true });
  const got = new Map(r.kvs.map((kv) => [dec.decode(kv.key), dec.decode(kv.value)]));
  const missing = [...acked].filter(([k, v]) => got.get(k) !== v).map(([k]) => k);
  expect(missing, `acknowledged writes missing after failover: ${missing.slice(0, 10).join(', ')}`).toEqual([]);
}

describe('raftkv: real processes', () => {
  it('keeps every acknowledged write across a SIGKILL of the leader, and the killed member catches up', async () => {
    cluster = track(await TestRaftKvCluster.create({ size: 3 }));
    await cluster.startAll();
    const leader = await cluster.waitForLeader();
    const client = cluster.client(undefined, 10_000);
    try {
      const writers = startWriters(client, 8, 'acked');
      await waitFor('some writes acknowledged', () => writers.acked.size >= 300);
      await cluster.kill(leader.name);
      const killedAt = writers.acked.size;
      const newLeader = await cluster.waitForLeader();
      expect(newLeader.name).not.toBe(leader.name);
      await waitFor('writes acknowledged after the kill', () => writers.acked.size >= killedAt + 300);
      await writers.stop();
      await expectAllPresent(client, writers.acked, 'acked');

      // The killed member rejoins from its own WAL and catches up from the log.
      cluster.start(leader.name);
      const rejoined = new RaftKvClient({ endpoints: cluster.endpoints([leader.name]), timeoutMs: 5_000 });
      try {
        const want = (await client.status(newLeader.clientURL)).raftIndex;
        await waitFor('the restarted member to catch up', async () => (await rejoined.status()).raftAppliedIndex >= want);
        const local = await rejoined.get('acked/', { prefix: true, serializable: true, countOnly: true });
        expect(local.count).toBeGreaterThanOrEqual(writers.acked.size);
      } finally {
        await rejoined.close();
      }
    } finally {
      await client.close();
    }
  }, 90_000);

  /**
   * A follower is down while 1,500 keys are written (snapshots every 200 entries, 50 kept after
   * each): it must be sent a snapshot when it comes back. With `damage`, the leader's snapshot
   * files are damaged on disk first (one byte of the data flipped): the leader must notice as it
   * reads one back, write a new one and send that.
   */
  async function catchUpFromSnapshot(damage: boolean): Promise<void> {
    cluster = track(await TestRaftKvCluster.create({ size: 3, snapshotCount: 200, catchUpEntries: 50 }));
    await cluster.startAll();
    const leader = await cluster.waitForLeader();
    const follower = cluster.members.find((m) => m.name !== leader.name)!;
    const client = cluster.client(cluster.members.filter((m) => m.name !== follower.name).map((m) => m.name));
    try {
      await cluster.kill(follower.name);
      for (let i = 0; i < 1500; i += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, j) => client.put(`snap/${i + j}`, `value-${i + j}`)));
      }
      if (damage) {
        // Once the leader's last snapshot is within 200 entries of what it applied, it takes no
        // more (and prunes no files) until written to again.
        const lastSaved = (): number => {
          const saved = cluster!.logs.get(leader.name)!.filter((l) => l.includes('"saved a snapshot"'));
          return saved.length === 0 ? 0 : (JSON.parse(saved[saved.length - 1]) as { index: number }).index;
        };
        const applied = (await client.status(leader.clientURL)).raftAppliedIndex;
        await waitFor('the leader to finish its snapshots', async () => lastSaved() > applied - 200, 10_000);
        const dir = path.join(leader.dataDir, 'member', 'snap');
        const files = (await readdir(dir)).filter((f) => f.endsWith('.snap'));
        expect(files.length).toBeGreaterThan(0);
        for (const f of files) {
          const bytes = await readFile(path.join(dir, f));
          bytes[bytes.length - 10] ^= 0xff;
          await writeFile(path.join(dir, f), bytes);
        }
      }
      cluster.start(follower.name);
      const lagging = new RaftKvClient({ endpoints: [follower.clientURL], timeoutMs: 5_000 });
      try {
        const want = (await client.status(leader.clientURL)).raftIndex;
        await waitFor('the lagging member to install a snapshot and catch up', async () => (await lagging.status()).raftAppliedIndex >= want, 30_000);
        const r = await lagging.get('snap/', { prefix: true, serializable: true, countOnly: true });
        expect(r.count).toBe(1500);
        expect(cluster.logs.get(follower.name)!.some((l) => l.includes('installed a snapshot'))).toBe(true);
        const replaced = cluster.logs.get(leader.name)!.some((l) => l.includes('cannot be read; writing a new one'));
        expect(replaced).toBe(damage);
      } finally {
        await lagging.close();
      }
    } finally {
      await client.close();
    }
  }

  it('sends a snapshot to a member that fell behind the compacted log', () => catchUpFromSnapshot(false), 90_000);

  it('replaces a snapshot file damaged on disk and sends the new one', () => catchUpFromSnapshot(true), 90_000);

  it('answers a write lost with a frozen leader with LEADER_CHANGED once another leads, not with a timeout', async () => {
    cluster = track(await TestRaftKvCluster.create({ size: 3 }));
    await cluster.startAll();
    const leader = await cluster.waitForLeader();
    const follower = cluster.members.find((m) => m.name !== leader.name)!;
    cluster.signal(leader.name, 'SIGSTOP'); // its sockets stay open: the follower's forward just sits there
    try {
      const res = await fetch(`${follower.clientURL}/v3/kv/put`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ key: Buffer.from('stuck').toString('base64'), value: Buffer.from('1').toString('base64') }),
      });
      const body = (await res.json()) as { reason?: string; message?: string };
      expect(res.status).toBe(503);
      expect(body.reason).toBe('LEADER_CHANGED');
      expect(body.message).toMatch(/may or may not have been applied/);
    } finally {
      cluster.signal(leader.name, 'SIGCONT');
    }
    // The thawed member rejoins under the new leader and the cluster takes writes.
    await cluster.waitForLeader();
    const client = cluster.client();
    try {
      await client.put('after', '2');
      expect(dec.decode((await client.get('after')).kvs[0].value)).toBe('2');
    } finally {
      await client.close();
    }
  });

  it('hands leadership over on SIGTERM and exits cleanly', async () => {
    cluster = track(await TestRaftKvCluster.create({ size: 3 }));
    await cluster.startAll();
    const leader = await cluster.waitForLeader();
    const client = cluster.client(cluster.members.filter((m) => m.name !== leader.name).map((m) => m.name));
    try {
      await client.put('before', '1');
      // Every member exposes Prometheus metrics on its client port.
      // (Peer round-trip times appear after the first ping, about a second after start.)
      const text = await waitFor('peer RTT samples in /metrics', async () => {
        const t = await (await fetch(`${leader.clientURL}/metrics`)).text();
        return t.includes('raftkv_network_peer_round_trip_time_seconds_bucket') ? t : undefined;
      });
      for (const name of [
        'raftkv_server_has_leader 1', 'raftkv_server_is_leader 1', 'raftkv_server_leader_changes_seen_total', 'raftkv_server_term',
        'raftkv_server_proposals_committed_total', 'raftkv_server_proposals_applied_total', 'raftkv_server_proposals_pending',
        'raftkv_server_proposals_failed_total', 'raftkv_disk_wal_fsync_duration_seconds_bucket', 'raftkv_server_apply_duration_seconds_bucket', 'raftkv_server_proposal_duration_seconds_bucket',
        'raftkv_server_snapshot_saves_total', 'raftkv_mvcc_db_total_size_in_bytes', 'raftkv_mvcc_watchers',
        'raftkv_network_peer_round_trip_time_seconds_bucket', 'process_resident_memory_bytes',
      ]) {
        expect(text.replace(/\{[^}]*\}/g, ''), `metric ${name}`).toContain(name);
      }
      // Term, commit and apply are read from Raft when scraped: they must show its state.
      const value = (name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]);
      expect(value('raftkv_server_term')).toBeGreaterThanOrEqual(2);
      expect(value('raftkv_server_proposals_applied_total')).toBeGreaterThanOrEqual(4);
      expect(value('raftkv_server_proposals_committed_total')).toBeGreaterThanOrEqual(value('raftkv_server_proposals_applied_total'));
      const code = await cluster.terminate(leader.name);
      expect(code).toBe(0);
      expect(cluster.logs.get(leader.name)!.some((l) => l.includes('transferring leadership'))).toBe(true);
      const next = await cluster.waitForLeader();
      expect(next.name).not.toBe(leader.name);
      await client.put('after', '2');
      expect(dec.decode((await client.get('before')).kvs[0].value)).toBe('1');
    } finally {
      await client.close();
    }
  }, 60_000);
});
