/**
 * A member whose WAL is damaged in the middle (not a torn tail) must refuse to start, saying
 * which file and where, rather than silently dropping acknowledged entries.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TestRaftKvCluster, trackClusters } from '../support/raftkv-cluster.js';
import { waitFor } from '../support/wait.js';

const track = trackClusters();
let cluster: TestRaftKvCluster | undefined;

describe('raftkv WAL corruption: real process', () => {
  it('refuses to start on a flipped byte in the middle of the WAL, naming the file and offset', async () => {
    cluster = track(await TestRaftKvCluster.create({ size: 1 }));
    await cluster.startAll();
    const client = cluster.client();
    try {
      for (let i = 0; i < 200; i++) await client.put(`k/${i}`, `value-${i}`.repeat(10));
    } finally {
      await client.close();
    }
    expect(await cluster.terminate('m1')).toBe(0);

    const walDir = path.join(cluster.member('m1').dataDir, 'member', 'wal');
    const segments = (await readdir(walDir)).filter((f) => f.endsWith('.wal')).sort();
    const file = path.join(walDir, segments[segments.length - 1]);
    const bytes = await readFile(file);
    let end = bytes.length;
    while (end > 0 && bytes[end - 1] === 0) end--; // segments may be preallocated with zeros
    const at = Math.floor(end / 2);
    bytes[at] ^= 0xff;
    await writeFile(file, bytes);

    cluster.start('m1');
    const code = await cluster.exited('m1');
    expect(code).not.toBe(0);
    const log = await waitFor('the refusal in the log', () => cluster!.logs.get('m1')!.join('\n') || undefined);
    expect(log).toContain(segments[segments.length - 1]);
    expect(log).toMatch(/offset/);
  }, 60_000);
});
