/**
 * Membership changes on a live cluster of real processes: add a member (as a learner that is
 * promoted once it caught up), write through it, then remove another member; writes go on.
 */
import { describe, expect, it } from 'vitest';
import { TestRaftKvCluster, trackClusters } from '../support/raftkv-cluster.js';
import { waitFor } from '../support/wait.js';

const track = trackClusters();
let cluster: TestRaftKvCluster | undefined;

describe('raftkv membership: real processes', () => {
  it('adds a learner, promotes it once caught up, removes a follower and then the leader', async () => {
    cluster = track(await TestRaftKvCluster.create({ size: 3 }));
    await cluster.startAll();
    const client = cluster.client();
    try {
      for (let i = 0; i < 200; i++) await client.put(`pre/${i}`, String(i));

      const m4 = await cluster.addSpec('m4');
      const added = await client.memberAdd([m4.peerURL], { learner: true });
      expect(added.member.isLearner).toBe(true);
      cluster.start('m4', 'existing', cluster.initialCluster());
      const c4 = cluster.client(['m4']);
      try {
        await waitFor('the learner to catch up', async () => (await c4.get('pre/', { prefix: true, serializable: true, countOnly: true })).count === 200);
        // A learner does not vote: the cluster still has 3 voters.
        expect((await client.memberList()).members.filter((m) => !m.isLearner)).toHaveLength(3);
        await waitFor('promotion of the caught-up learner', async () => {
          try {
            await client.memberPromote(added.member.id);
            return true;
          } catch {
            return undefined;
          }
        });
        const { members } = await client.memberList();
        expect(members.filter((m) => !m.isLearner)).toHaveLength(4);
        await waitFor('m4 to publish its name', async () => (await client.memberList()).members.find((m) => m.id === added.member.id)?.name === 'm4');

        // Remove a voter that is not the leader; the removed process stops by itself.
        const leader = await cluster.waitForLeader();
        const victim = cluster.members.find((m) => m.name !== leader.name && m.name !== 'm4')!;
        const victimId = members.find((m) => m.name === victim.name)!.id;
        await client.memberRemove(victimId);
        expect((await client.memberList()).members.map((m) => m.id)).not.toContain(victimId);
        await waitFor('the removed member to exit', () => !cluster!.isRunning(victim.name));
        await client.put('after-remove', 'ok');
        const r = await c4.get('after-remove');
        expect(new TextDecoder().decode(r.kvs[0].value)).toBe('ok');

        // Remove the leader itself: it keeps leading until the change commits, then steps down
        // and stops; the two remaining voters elect a new leader and take writes.
        const leaderId = (await client.memberList()).members.find((m) => m.name === leader.name)!.id;
        await client.memberRemove(leaderId);
        await waitFor('the removed leader to exit', () => !cluster!.isRunning(leader.name));
        cluster.dropSpec(leader.name);
        cluster.dropSpec(victim.name);
        const next = await cluster.waitForLeader();
        expect(next.name).not.toBe(leader.name);
        const rest = cluster.client();
        try {
          await rest.put('after-leader-removal', 'ok');
          expect((await rest.memberList()).members.map((m) => m.name).sort()).toEqual(cluster.members.map((m) => m.name).sort());
        } finally {
          await rest.close();
        }
      } finally {
        await c4.close();
      }
    } finally {
      await client.close();
    }
  }, 90_000);
});
