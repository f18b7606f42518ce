/**
 * The etcdctl-like client against a real cluster, and disaster recovery: `snapshot save` from a
 * live cluster, then `flotilla raftkv --restore` builds a new cluster holding the same data.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FLOTILLA_BIN, TestRaftKvCluster, trackClusters } from '../support/raftkv-cluster.js';

const run = promisify(execFile);
const track = trackClusters();

async function kv(endpoints: string[], ...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [FLOTILLA_BIN, 'kv', '--endpoints', endpoints.join(','), ...args], { timeout: 20_000 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

describe('flotilla kv and snapshot restore: real processes', () => {
  it('puts, gets, leases, lists members, reports status, saves a snapshot and restores it into a new cluster', async () => {
    const source = track(await TestRaftKvCluster.create({ size: 3 }));
    {
      await source.startAll();
      const eps = source.endpoints();
      expect((await kv(eps, 'put', 'greeting', 'hello')).stdout.trim()).toBe('OK');
      for (let i = 0; i < 50; i++) expect((await kv(eps, 'put', `app/config/${i}`, `v${i}`)).code).toBe(0);
      expect((await kv(eps, 'get', 'greeting')).stdout).toBe('greeting\nhello\n');
      const count = await kv(eps, 'get', 'app/', '--prefix', '--keys-only');
      expect(count.stdout.split('\n').filter(Boolean)).toHaveLength(50);

      const grant = await kv(eps, 'lease', 'grant', '60');
      const leaseId = /lease ([0-9a-f]+) granted with TTL\(60s\)/.exec(grant.stdout)?.[1];
      expect(leaseId, grant.stdout + grant.stderr).toBeDefined();
      expect((await kv(eps, 'put', 'ephemeral', 'x', '--lease', leaseId!)).code).toBe(0);

      const members = await kv(eps, 'member', 'list');
      for (const m of source.members) expect(members.stdout).toContain(m.peerURL);
      const status = await kv(eps, 'endpoint', 'status', '--cluster', '-w', 'json');
      expect(status.code).toBe(0);
      const leaders = (JSON.parse(status.stdout) as { Status: { leader: string; header: { member_id: string } } }[]).filter((s) => s.Status.leader === s.Status.header.member_id);
      expect(leaders).toHaveLength(1);

      const bad = await kv(eps, 'get');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/key/i);

      const file = path.join(source.root, 'backup.db');
      expect((await kv(eps, 'snapshot', 'save', file)).code).toBe(0);

      // A new cluster (new ports, new data dirs) restored from the file.
      const restored = track(await TestRaftKvCluster.create({ size: 3 }));
      for (const m of restored.members) restored.start(m.name, 'new', restored.initialCluster(), ['--restore', file]);
      await restored.waitForLeader();
      const reps = restored.endpoints();
      expect((await kv(reps, 'get', 'greeting')).stdout).toBe('greeting\nhello\n');
      expect((await kv(reps, 'get', 'app/', '--prefix', '--keys-only')).stdout.split('\n').filter(Boolean)).toHaveLength(50);
      // The restored cluster takes writes and is a cluster of its own.
      expect((await kv(reps, 'put', 'after-restore', 'yes')).code).toBe(0);
      expect((await kv(eps, 'get', 'after-restore')).stdout).toBe('');
    }
  }, 120_000);
});
