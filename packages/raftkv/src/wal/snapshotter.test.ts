import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Snapshot } from '../raft/types.js';
import { decodeSnapshot, encodeSnapshot, Snapshotter, snapshotFileName } from './snapshotter.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'raftkv-snap-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function snap(index: number, term: number, size = 64): Snapshot {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 13 + index) & 0xff;
  return { metadata: { index, term, confState: { voters: [1, 2, 3], learners: [7] } }, data };
}

async function snapFiles(): Promise<string[]> {
  return (await readdir(dir)).sort();
}

describe('encodeSnapshot / decodeSnapshot', () => {
  it('round-trips metadata and data, including empty membership and data', () => {
    const empty: Snapshot = { metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: new Uint8Array(0) };
    for (const s of [snap(42, 7), empty, snap(2 ** 40, 2 ** 33, 1)]) {
      const back = decodeSnapshot(encodeSnapshot(s));
      expect(back.metadata).toEqual(s.metadata);
      expect(new Uint8Array(back.data)).toEqual(s.data);
    }
  });

  it('throws SNAPSHOT_CORRUPT on a flipped byte or a truncated buffer', () => {
    const bytes = encodeSnapshot(snap(42, 7));
    for (const at of [0, 10, 25, bytes.length - 1]) {
      const bad = Uint8Array.from(bytes);
      bad[at] ^= 0x01;
      expect(() => decodeSnapshot(bad)).toThrow(expect.objectContaining({ code: 'SNAPSHOT_CORRUPT' }));
    }
    expect(() => decodeSnapshot(bytes.subarray(0, bytes.length - 1))).toThrow(expect.objectContaining({ code: 'SNAPSHOT_CORRUPT' }));
    expect(() => decodeSnapshot(bytes.subarray(0, 5))).toThrow(expect.objectContaining({ code: 'SNAPSHOT_CORRUPT' }));
  });
});

describe('Snapshotter', () => {
  it('returns null when there is no snapshot, even without a directory', async () => {
    const s = new Snapshotter(path.join(dir, 'missing'));
    expect(await s.loadNewest()).toBeNull();
    expect(await s.newestPath()).toBeNull();
  });

  it('saves and loads a large snapshot', async () => {
    const s = new Snapshotter(path.join(dir, 'snap'));
    const big = snap(1000, 5, 24 * 1024 * 1024);
    await s.save(big);
    const loaded = await s.loadNewest();
    expect(loaded?.metadata).toEqual(big.metadata);
    expect(Buffer.compare(loaded!.data, big.data)).toBe(0);
    expect(await s.newestPath()).toBe(path.join(dir, 'snap', snapshotFileName(5, 1000)));
    // Written in flushed pieces, byte for byte what encodeSnapshot gives (a size that is no
    // multiple of the piece size, so the last piece is a short one).
    const odd = snap(1001, 5, 17 * 1024 * 1024 + 12_345);
    await s.save(odd);
    expect(Buffer.from(await readFile(path.join(dir, 'snap', snapshotFileName(5, 1001)))).equals(Buffer.from(encodeSnapshot(odd)))).toBe(true);
  });

  it('keeps only the newest `keep` snapshots', async () => {
    const s = new Snapshotter(dir, { keep: 2 });
    for (let i = 1; i <= 5; i++) await s.save(snap(i * 10, 1 + (i >> 1)));
    expect(await snapFiles()).toEqual([snapshotFileName(3, 40), snapshotFileName(3, 50)]);
    expect((await s.loadNewest())?.metadata.index).toBe(50);
  });

  it('falls back to an older snapshot when the newest is corrupt, with a warning', async () => {
    const s = new Snapshotter(dir);
    await s.save(snap(10, 1));
    await s.save(snap(20, 2));
    const newest = path.join(dir, snapshotFileName(2, 20));
    const buf = await readFile(newest);
    buf[buf.length - 3] ^= 0xff;
    await writeFile(newest, buf);

    const warnings: Record<string, unknown>[] = [];
    const loaded = await s.loadNewest((_msg, details) => warnings.push(details));
    expect(loaded?.metadata.index).toBe(10);
    expect(new Uint8Array(loaded!.data)).toEqual(snap(10, 1).data);
    expect(warnings).toHaveLength(1);
    expect(warnings[0].file).toBe(newest);
  });

  it('skips a file whose contents do not match its name', async () => {
    const s = new Snapshotter(dir);
    await s.save(snap(10, 1));
    await writeFile(path.join(dir, snapshotFileName(9, 99)), encodeSnapshot(snap(11, 1)));
    expect((await s.loadNewest())?.metadata.index).toBe(10);
  });

  it('ignores and cleans up temp files left by a crash before the rename', async () => {
    const s = new Snapshotter(dir);
    await s.save(snap(10, 1));
    const tmp = snapshotFileName(9, 500) + '.tmp';
    await writeFile(path.join(dir, tmp), encodeSnapshot(snap(500, 9)).subarray(0, 100));
    expect(await s.newestPath()).toBe(path.join(dir, snapshotFileName(1, 10)));
    expect((await s.loadNewest())?.metadata.index).toBe(10);
    expect(await snapFiles()).toEqual([snapshotFileName(1, 10)]);

    await writeFile(path.join(dir, tmp), 'partial');
    await s.save(snap(20, 1));
    expect(await snapFiles()).toEqual([snapshotFileName(1, 10), snapshotFileName(1, 20)]);
  });

  it('serialises concurrent saves', async () => {
    const s = new Snapshotter(dir, { keep: 1 });
    await Promise.all([s.save(snap(10, 1)), s.save(snap(20, 1)), s.save(snap(30, 1))]);
    expect(await snapFiles()).toEqual([snapshotFileName(1, 30)]);
  });

  describe('openData', () => {
    async function readAll(s: Snapshotter, term: number, index: number, piece: number): Promise<{ pieces: Uint8Array[]; byteLength: number }> {
      const r = await s.openData(term, index);
      try {
        const pieces: Uint8Array[] = [];
        for await (const p of r.pieces(piece)) pieces.push(p);
        return { pieces, byteLength: r.byteLength };
      } finally {
        await r.close();
      }
    }

    it('reads back exactly the saved data, in pieces of at most the asked size', async () => {
      const s = new Snapshotter(dir);
      const saved = { metadata: { index: 77, term: 3, confState: { voters: [1, 2, 3, 4, 5], learners: [] } }, data: snap(77, 3, 3 * 1024 * 1024 + 5).data };
      await s.save(saved);
      for (const piece of [1024 * 1024, 1_000_003, 64 * 1024 * 1024]) {
        const { pieces, byteLength } = await readAll(s, 3, 77, piece);
        expect(byteLength).toBe(saved.data.byteLength);
        expect(pieces.every((p) => p.byteLength <= piece && p.byteLength > 0)).toBe(true);
        expect(Buffer.concat(pieces).equals(Buffer.from(saved.data))).toBe(true);
      }
      await s.save(snap(78, 3, 0));
      expect(await readAll(s, 3, 78, 10)).toEqual({ pieces: [], byteLength: 0 });
    });

    it('withholds the last piece and throws when the checksum fails', async () => {
      const s = new Snapshotter(dir);
      await s.save(snap(10, 1, 4096));
      const file = path.join(dir, snapshotFileName(1, 10));
      const buf = await readFile(file);
      buf[buf.length - 4000] ^= 0x01; // data near the end, inside the first of three pieces
      await writeFile(file, buf);
      const r = await s.openData(1, 10);
      const got: Uint8Array[] = [];
      await expect(
        (async () => {
          for await (const p of r.pieces(1500)) got.push(p);
        })(),
      ).rejects.toMatchObject({ code: 'SNAPSHOT_CORRUPT', message: expect.stringContaining('checksum') });
      await r.close();
      expect(got.reduce((n, p) => n + p.byteLength, 0)).toBeLessThan(4096);
    });

    it('refuses a file with a bad header, the wrong snapshot in it, or a length that does not match', async () => {
      const s = new Snapshotter(dir);
      await s.save(snap(10, 1));
      const file = path.join(dir, snapshotFileName(1, 10));
      const good = await readFile(file);
      const bad = async (bytes: Uint8Array, why: RegExp): Promise<void> => {
        await writeFile(file, bytes);
        await expect(s.openData(1, 10)).rejects.toMatchObject({ code: 'SNAPSHOT_CORRUPT', message: expect.stringMatching(why) });
      };
      const magic = Buffer.from(good);
      magic[0] ^= 0xff;
      await bad(magic, /magic/);
      await bad(good.subarray(0, good.length - 1), /body length/);
      await bad(good.subarray(0, 10), /ends at byte 10/);
      await bad(encodeSnapshot(snap(11, 1)), /holds 1-11/);
      await expect(s.openData(1, 12)).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });

  it('rejects an invalid keep', () => {
    expect(() => new Snapshotter(dir, { keep: 0 })).toThrow(expect.objectContaining({ code: 'WAL_INVALID' }));
  });
});
