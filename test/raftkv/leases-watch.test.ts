/**
 * Leases and watches on a real cluster: an expired lease's keys disappear from every replica at
 * the same revision (expiry goes through the log); a watch served by a follower sees writes made
 * through the leader and resumes on another member, without gaps or duplicates, when the member
 * it was on is killed.
 */
import { describe, expect, it } from 'vitest';
import { RaftKvClient } from '@flotilla/raftkv/client';
import { TestRaftKvCluster, trackClusters } from '../support/raftkv-cluster.js';
import { waitFor } from '../support/wait.js';

const track = trackClusters();
let cluster: TestRaftKvCluster | undefined;

const dec = new TextDecoder();

describe('raftkv leases and watches: real processes', () => {
  it('deletes the keys of an expired lease on every member, keeps a kept-alive one', async () => {
    cluster = track(await TestRaftKvCluster.create({ size: 3 }));
    await cluster.startAll();
    const client = cluster.client();
    try {
      const short = await client.leaseGrant(1);
      const long = await client.leaseGrant(1);
      await client.put('session/short', 'a', { lease: short.ID });
      await client.put('session/long', 'b', { lease: long.ID });
      const keepAlive = setInterval(() => void client.leaseKeepAliveOnce(long.ID).catch(() => undefined), 300);
      try {
        for (const m of cluster.members) {
          const local = new RaftKvClient({ endpoints: [m.clientURL] });
          try {
            await waitFor(`the expired key to vanish on ${m.name}`, async () => (await local.get('session/short', { serializable: true })).count === 0 || undefined, 10_000);
          } finally {
            await local.close();
          }
        }
        // Well past the 1 s TTL, the kept-alive lease's key is still there.
        expect((await client.get('session/long')).count).toBe(1);
        const ttl = await client.leaseTimeToLive(short.ID, { keys: true });
        expect(ttl.TTL).toBe(-1);
      } finally {
        clearInterval(keepAlive);
      }
    } finally {
      await client.close();
    }
  }, 60_000);

  it('streams a follower-served watch in order and resumes it elsewhere after a SIGKILL', async () => {
    cluster = track(await TestRaftKvCluster.create({ size: 3 }));
    await cluster.startAll();
    const leader = await cluster.waitForLeader();
    const follower = cluster.members.find((m) => m.name !== leader.name)!;
    const others = cluster.members.filter((m) => m.name !== follower.name).map((m) => m.name);
    const writer = cluster.client([leader.name]);
    // The watcher prefers the follower (first endpoint) and may fall back to the others.
    const watcher = new RaftKvClient({ endpoints: [follower.clientURL, ...cluster.endpoints(others)] });
    const seen: string[] = [];
    const revisions: number[] = [];
    try {
      const w = watcher.watch('w/', {
        prefix: true,
        onEvents: (events) => {
          for (const e of events) {
            seen.push(dec.decode(e.kv.key));
            revisions.push(e.kv.modRevision);
          }
        },
      });
      await w.ready;
      for (let i = 0; i < 50; i++) await writer.put(`w/${i}`, String(i));
      await waitFor('the first 50 events', () => seen.length >= 50 || undefined);
      await cluster.kill(follower.name);
      for (let i = 50; i < 100; i++) await writer.put(`w/${i}`, String(i));
      await waitFor('all 100 events after the resume', () => seen.length >= 100 || undefined, 20_000);
      w.cancel();
      expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => `w/${i}`));
      for (let i = 1; i < revisions.length; i++) expect(revisions[i]).toBeGreaterThan(revisions[i - 1]);
    } finally {
      await watcher.close();
      await writer.close();
    }
  }, 60_000);
});
