/**
 * A member in this process (real WAL in a temp dir, real peer transport on loopback): what
 * cannot be arranged from outside the process, like a leader that keeps its leadership while
 * its writes cannot commit.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RaftKvServer } from './member.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`no ${name} in the metrics`);
  return Number(m[1]);
}

describe('RaftKvServer in process', () => {
  it('answers TIMEOUT to writes and membership changes that cannot commit, and counts them failed', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'raftkv-member-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const names = ['m1', 'm2'];
    const ports = await Promise.all(names.map(() => freePort()));
    const initialCluster = names.map((name, i) => ({ name, peerURL: `http://127.0.0.1:${ports[i]}` }));
    const members = names.map(
      (name, i) =>
        new RaftKvServer({
          name,
          dataDir: path.join(dir, name),
          clientURLs: [`http://127.0.0.1:${ports[i] + 1}`],
          peerURLs: [initialCluster[i].peerURL],
          initialCluster,
          initialClusterState: 'new',
          initialClusterToken: 'member-test',
          peerSecret: 'member-test-secret',
          // A leader that loses its only peer keeps leading for an election timeout (check
          // quorum): long here, so that the requests time out well before it steps down.
          heartbeatIntervalMs: 50,
          electionTimeoutMs: 1_500,
          requestTimeoutMs: 150,
          logger: pino({ level: 'silent' }),
          processMetrics: false,
        }),
    );
    for (const m of members) cleanups.push(() => m.stop());
    await Promise.all(members.map((m) => m.start()));
    await until('a leader', () => members.some((m) => m.isLeader()));
    const leader = members.find((m) => m.isLeader())!;
    const follower = members.find((m) => m !== leader)!;
    await leader.put({ key: Buffer.from('a'), value: Buffer.from('1') });
    // Each member publishes its client URLs through the log once: wait for both, so that no
    // proposal but the test's own is pending when the follower goes.
    await until('both members published', () => leader.memberList().every((m) => m.clientURLs.length > 0));
    const before = await leader.metricsText();
    expect(metric(before, 'raftkv_server_proposals_pending')).toBe(0);
    const failedBefore = metric(before, 'raftkv_server_proposals_failed_total');

    await follower.stop();
    const put = leader.put({ key: Buffer.from('b'), value: Buffer.from('2') });
    const add = leader.memberAdd(['http://127.0.0.1:1'], true);
    await expect(put).rejects.toMatchObject({ code: 'TIMEOUT', message: expect.stringContaining('timed out after 150 ms') });
    await expect(add).rejects.toMatchObject({ code: 'TIMEOUT', message: expect.stringContaining('membership change timed out') });
    expect(leader.isLeader()).toBe(true); // they timed out; the leader did not step down first
    const text = await leader.metricsText();
    expect(metric(text, 'raftkv_server_proposals_pending')).toBe(0);
    expect(metric(text, 'raftkv_server_proposals_failed_total')).toBe(failedBefore + 2);
    // The write that did commit was timed.
    expect(metric(text, 'raftkv_server_proposal_duration_seconds_count')).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
