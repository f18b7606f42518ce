import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Entry, EntryType, HardState } from '../raft/types.js';
import { EMPTY_HARD_STATE } from '../raft/types.js';
import { WalError } from './errors.js';
import { encodeRecords } from './record.js';
import { segmentFileName } from './segment.js';
import { DEFAULT_SEGMENT_BYTES, Wal } from './wal.js';
import type { WalOptions } from './wal.js';

let dir: string;
let opened: Wal[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'raftkv-wal-'));
});

afterEach(async () => {
  for (const w of opened) await w.close().catch(() => {});
  opened = [];
  await rm(dir, { recursive: true, force: true });
});

async function openWal(opts: Partial<WalOptions> = {}): ReturnType<typeof Wal.open> {
  const r = await Wal.open({ dir, ...opts });
  opened.push(r.wal);
  return r;
}

function ent(index: number, term: number, size = 16, type: EntryType = 'normal'): Entry {
  return { index, term, type, data: Uint8Array.from({ length: size }, (_, i) => (index * 31 + i * 7 + term) & 0xff) };
}

function range(from: number, to: number, term: number, size = 16): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(ent(i, term, size));
  return out;
}

async function segmentFiles(d = dir): Promise<string[]> {
  return (await readdir(d)).filter((n) => n.endsWith('.wal')).sort().map((n) => path.join(d, n));
}

/**
 * Record boundaries of a segment, parsed from the documented framing: [u32 len][u32 crc][u8 type][payload].
 * Stops at an all-zero frame header: the preallocated, never written rest of the file.
 */
async function frames(file: string): Promise<{ off: number; end: number; type: number; index: number }[]> {
  const buf = await readFile(file);
  const out: { off: number; end: number; type: number; index: number }[] = [];
  for (let off = 0; off + 9 <= buf.length; ) {
    if (buf.readUInt32LE(off) === 0 && buf.readUInt32LE(off + 4) === 0) break;
    const end = off + 9 + buf.readUInt32LE(off);
    const type = buf[off + 8];
    out.push({ off, end, type, index: type === 2 ? buf.readUInt32LE(off + 9 + 8) : -1 });
    off = end;
  }
  return out;
}
const ENTRY = 2;

/** Where a segment's records end (the next append's offset). */
async function logicalEnd(file: string): Promise<number> {
  const all = await frames(file);
  return all[all.length - 1].end;
}

async function zeroRange(file: string, from: number, to: number): Promise<void> {
  const buf = await readFile(file);
  buf.fill(0, from, to);
  await writeFile(file, buf);
}

function isAllZero(buf: Buffer): boolean {
  return buf.every((b) => b === 0);
}

async function flipByte(file: string, offset: number): Promise<void> {
  const buf = await readFile(file);
  buf[offset] ^= 0x5a;
  await writeFile(file, buf);
}

async function openError(d = dir): Promise<WalError> {
  const err: unknown = await Wal.open({ dir: d }).then(
    (r) => {
      opened.push(r.wal);
      return null;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WalError);
  return err as WalError;
}

function expectCorruptAt(err: WalError, file: string, offset: number): void {
  expect(err.code).toBe('WAL_CORRUPT');
  expect(err.file).toBe(file);
  expect(err.offset).toBe(offset);
  expect(err.message).toContain(file);
  expect(err.message).toContain(`offset ${offset}`);
}

describe('Wal', () => {
  it('starts empty in a new directory', async () => {
    const { wal, state } = await openWal({ dir: path.join(dir, 'a', 'b') });
    expect(state).toEqual({ hardState: EMPTY_HARD_STATE, entries: [], snapshot: null, repairedTornTail: null });
    await wal.close();
    expect(await segmentFiles(path.join(dir, 'a', 'b'))).toHaveLength(1);
  });

  it('round-trips hardState and entries across segment rolls', async () => {
    const { wal } = await openWal({ segmentBytes: 512 });
    const all: Entry[] = [];
    let hs: HardState = EMPTY_HARD_STATE;
    for (let b = 0; b < 20; b++) {
      const term = 1 + (b >> 2);
      const batch: Entry[] = [];
      for (let i = b * 5 + 1; i <= b * 5 + 5; i++) batch.push(ent(i, term, (i % 7) * 13, i % 3 === 0 ? 'confChange' : 'normal'));
      if (b === 7) batch.push(ent(b * 5 + 6, term, 3000)); // larger than a whole segment
      const first = all.length === 0 ? 1 : all[all.length - 1].index + 1;
      const renumbered = batch.map((e, k) => ({ ...e, index: first + k }));
      hs = { term, vote: 2, commit: Math.max(0, first - 1) };
      await wal.save(hs, renumbered);
      all.push(...renumbered);
    }
    const files = await segmentFiles();
    expect(files.length).toBeGreaterThan(3);
    let onDisk = 0;
    for (const f of files) onDisk += (await stat(f)).size;
    expect(wal.sizeBytes()).toBe(onDisk);
    await wal.close();

    const { state } = await openWal({ segmentBytes: 512 });
    expect(state.entries).toEqual(all);
    expect(state.entries.every((e) => e.data.constructor === Uint8Array)).toBe(true);
    expect(state.hardState).toEqual(hs);
    expect(state.snapshot).toBeNull();
    expect(state.repairedTornTail).toBeNull();
  });

  it('replays an overwritten suffix: a later entry at i replaces entries >= i', async () => {
    const { wal } = await openWal({ segmentBytes: 200 });
    await wal.save({ term: 1, vote: 1, commit: 3 }, range(1, 10, 1));
    await wal.save({ term: 2, vote: 2, commit: 3 }, range(6, 8, 2));
    await wal.close();

    const first = await openWal({ segmentBytes: 200 });
    expect(first.state.entries).toEqual([...range(1, 5, 1), ...range(6, 8, 2)]);
    await first.wal.save(null, [ent(9, 2)]);
    await first.wal.close();

    const second = await openWal({ segmentBytes: 200 });
    expect(second.state.entries).toEqual([...range(1, 5, 1), ...range(6, 9, 2)]);
    expect(second.state.hardState).toEqual({ term: 2, vote: 2, commit: 3 });
  });

  it('group-commits concurrent saves: all resolve in order, with far fewer fsyncs than calls', async () => {
    let fsyncs = 0;
    let synced = 0;
    const { wal } = await openWal({
      onFsync: (seconds, records) => {
        expect(seconds).toBeGreaterThanOrEqual(0);
        fsyncs++;
        synced += records;
      },
    });
    const resolved: number[] = [];
    const saves: Promise<void>[] = [];
    for (let i = 1; i <= 1000; i++) saves.push(wal.save(null, [ent(i, 1, 8)]).then(() => void resolved.push(i)));
    await Promise.all(saves);
    expect(resolved).toEqual(range(1, 1000, 1).map((e) => e.index));
    expect(synced).toBe(1000);
    expect(fsyncs).toBeLessThanOrEqual(10);
    await wal.close();

    const { state } = await openWal();
    expect(state.entries).toEqual(range(1, 1000, 1, 8));
  });

  it('keeps segments near segmentBytes even when one group commit is larger', async () => {
    const { wal } = await openWal({ segmentBytes: 4096 });
    await Promise.all(range(1, 1000, 1, 8).map((e) => wal.save(null, [e])));
    await wal.close();
    const files = await segmentFiles();
    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const f of files) {
      expect(await logicalEnd(f)).toBeLessThan(4096 + 100);
      expect((await stat(f)).size).toBeLessThan(4096 + 100);
    }
    expect((await openWal()).state.entries).toEqual(range(1, 1000, 1, 8));
  });

  it('blocking saves write before returning, wait behind queued writes, and replay like the rest', async () => {
    let fsyncs = 0;
    const { wal } = await openWal({ segmentBytes: 512, onFsync: () => void fsyncs++ });
    const done = wal.save({ term: 1, vote: 1, commit: 0 }, [ent(1, 1)], { blocking: true });
    expect(fsyncs).toBe(1); // written before save() returned
    await done;

    // An async write in flight: a blocking save may not overtake it, so it is queued instead.
    const order: number[] = [];
    const queued = wal.save(null, [ent(2, 1)]).then(() => void order.push(2));
    const behind = wal.save(null, [ent(3, 1)], { blocking: true }).then(() => void order.push(3));
    expect(fsyncs).toBe(1);
    await Promise.all([queued, behind]);
    expect(order).toEqual([2, 3]);

    // Across segment rolls (a full segment makes the call asynchronous for the roll).
    for (let i = 4; i <= 60; i++) await wal.save({ term: 2, vote: 1, commit: i - 1 }, [ent(i, 2, 40)], { blocking: true });
    expect((await segmentFiles()).length).toBeGreaterThan(3);
    await wal.close();
    const { state } = await openWal({ segmentBytes: 512 });
    expect(state.entries).toEqual([...range(1, 3, 1), ...range(4, 60, 2, 40)]);
    expect(state.hardState).toEqual({ term: 2, vote: 1, commit: 59 });
  });

  it('a blocking save that fails makes the WAL refuse every later write', async () => {
    const { wal } = await openWal();
    await wal.save(null, [ent(1, 1)], { blocking: true });
    await (wal as unknown as { active: { close(): Promise<void> } }).active.close();
    await expect(wal.save(null, [ent(2, 1)], { blocking: true })).rejects.toMatchObject({ code: 'WAL_FAILED' });
    await expect(wal.save(null, [ent(2, 1)])).rejects.toMatchObject({ code: 'WAL_FAILED' });
    opened = opened.filter((w) => w !== wal);
  });

  it('rejects a save that would skip indexes, and stays usable', async () => {
    const { wal } = await openWal();
    await wal.save(null, range(1, 3, 1));
    await expect(wal.save(null, [ent(5, 1)])).rejects.toMatchObject({ code: 'WAL_INVALID' });
    await expect(wal.save(null, [ent(4, 1), ent(6, 1)])).rejects.toMatchObject({ code: 'WAL_INVALID' });
    await wal.save(null, [ent(4, 1)]);
    await wal.close();
    await expect(wal.save(null, [ent(5, 1)])).rejects.toMatchObject({ code: 'WAL_CLOSED' });
    expect((await openWal()).state.entries).toEqual(range(1, 4, 1));
  });

  it('refuses all writes after an I/O error', async () => {
    const { wal } = await openWal();
    await wal.save(null, [ent(1, 1)]);
    // Reaching into the Wal to make the next write fail the way a dying disk would.
    await (wal as unknown as { active: { close(): Promise<void> } }).active.close();
    await expect(wal.save(null, [ent(2, 1)])).rejects.toMatchObject({ code: 'WAL_FAILED' });
    await expect(wal.save(null, [ent(2, 1)])).rejects.toMatchObject({ code: 'WAL_FAILED' });
    opened = opened.filter((w) => w !== wal);
  });

  describe('torn tail', () => {
    /**
     * Writes entries 1..20 over several small segments; returns the last segment. The last three
     * go in one save, so they share the last segment whatever its layout.
     */
    async function writeSample(d: string): Promise<string> {
      await mkdir(d, { recursive: true });
      const { wal } = await Wal.open({ dir: d, segmentBytes: 300 });
      await wal.save({ term: 1, vote: 1, commit: 0 }, []);
      for (let i = 1; i <= 17; i++) await wal.save({ term: 1, vote: 1, commit: i - 1 }, [ent(i, 1, 20)]);
      await wal.save({ term: 1, vote: 1, commit: 17 }, range(18, 20, 1, 20));
      await wal.close();
      const files = await segmentFiles(d);
      expect(files.length).toBeGreaterThan(2);
      return files[files.length - 1];
    }

    const cuts: [string, (last: { off: number; end: number }, prev: { off: number }) => { cut: number; tornAt: number | null; survivesTo: number }][] = [
      ['inside the frame header', (l) => ({ cut: l.off + 4, tornAt: l.off, survivesTo: 19 })],
      ['inside the payload', (l) => ({ cut: l.off + 9 + 5, tornAt: l.off, survivesTo: 19 })],
      ['one byte short', (l) => ({ cut: l.end - 1, tornAt: l.off, survivesTo: 19 })],
      ['into the record before', (_l, p) => ({ cut: p.off + 12, tornAt: p.off, survivesTo: 18 })],
      ['exactly on a record boundary', (l) => ({ cut: l.off, tornAt: null, survivesTo: 19 })],
    ];

    // How a crash mid-save leaves the file: in a preallocated segment the torn bytes are followed
    // by zeros (the file keeps its length); in one that had outgrown its preallocation, or was
    // created without one, the file just ends.
    const modes: [string, (file: string, cut: number) => Promise<void>][] = [
      ['zeros after it', async (file, cut) => zeroRange(file, cut, await logicalEnd(file))],
      ['the file ending there', async (file, cut) => truncate(file, cut)],
    ];

    for (const [mode, crash] of modes) {
      for (const [name, pick] of cuts) {
        it(`cut ${name}, ${mode}: keeps exactly the complete entries, then appends and reopens`, async () => {
          const d = path.join(dir, 'w');
          const last = await writeSample(d);
          const entryFrames = (await frames(last)).filter((f) => f.type === ENTRY);
          expect(entryFrames.length).toBeGreaterThanOrEqual(2);
          const { cut, tornAt, survivesTo } = pick(entryFrames[entryFrames.length - 1], entryFrames[entryFrames.length - 2]);
          await crash(last, cut);
          const length = (await stat(last)).size;

          const warnings: string[] = [];
          const { wal, state } = await Wal.open({ dir: d, segmentBytes: 300, onWarning: (msg) => warnings.push(msg) });
          opened.push(wal);
          expect(state.repairedTornTail).toEqual(tornAt === null ? null : { file: last, offset: tornAt });
          expect(warnings).toHaveLength(tornAt === null ? 0 : 1);
          expect(state.entries).toEqual(range(1, survivesTo, 1, 20));
          if (tornAt !== null) {
            // Repaired by zeroing in place: the file keeps its length (and its preallocation).
            const after = await readFile(last);
            expect(after.length).toBe(length);
            expect(isAllZero(after.subarray(tornAt))).toBe(true);
          }

          await wal.save({ term: 2, vote: 2, commit: survivesTo }, range(survivesTo + 1, survivesTo + 5, 2, 20));
          await wal.close();
          const again = await Wal.open({ dir: d, segmentBytes: 300 });
          opened.push(again.wal);
          expect(again.state.repairedTornTail).toBeNull();
          expect(again.state.entries).toEqual([...range(1, survivesTo, 1, 20), ...range(survivesTo + 1, survivesTo + 5, 2, 20)]);
          expect(again.state.hardState).toEqual({ term: 2, vote: 2, commit: survivesTo });
        });
      }
    }

    it('treats a partial record followed by zero bytes (an extended, unwritten file) as torn', async () => {
      const d = path.join(dir, 'w');
      const last = await writeSample(d);
      const entryFrames = (await frames(last)).filter((f) => f.type === ENTRY);
      const l = entryFrames[entryFrames.length - 1];
      const buf = await readFile(last);
      await writeFile(last, Buffer.concat([buf.subarray(0, l.off + 20), Buffer.alloc(4096)]));

      const { wal, state } = await Wal.open({ dir: d });
      opened.push(wal);
      expect(state.repairedTornTail).toEqual({ file: last, offset: l.off });
      expect(state.entries).toEqual(range(1, 19, 1, 20));
    });
  });

  describe('corruption', () => {
    it('fails on a flipped byte in a record that is not the last one', async () => {
      const { wal } = await openWal();
      for (let i = 1; i <= 10; i++) await wal.save(null, [ent(i, 1, 30)]);
      await wal.close();
      const [file] = await segmentFiles();
      const victim = (await frames(file)).filter((f) => f.type === ENTRY)[3];
      await flipByte(file, victim.off + 9 + 20);
      expectCorruptAt(await openError(), file, victim.off);
    });

    it('fails on a length field that runs past EOF when valid records follow it', async () => {
      const { wal } = await openWal();
      for (let i = 1; i <= 10; i++) await wal.save(null, [ent(i, 1, 30)]);
      await wal.close();
      const [file] = await segmentFiles();
      const victim = (await frames(file)).filter((f) => f.type === ENTRY)[5];
      const buf = await readFile(file);
      buf.writeUInt32LE(0x00ffffff, victim.off);
      await writeFile(file, buf);
      expectCorruptAt(await openError(), file, victim.off);
    });

    it('fails on a flipped byte in the last record of a non-last segment', async () => {
      const { wal } = await openWal({ segmentBytes: 300 });
      for (let i = 1; i <= 20; i++) await wal.save(null, [ent(i, 1, 20)]);
      await wal.close();
      const files = await segmentFiles();
      expect(files.length).toBeGreaterThan(2);
      const all = await frames(files[1]);
      const victim = all[all.length - 1];
      await flipByte(files[1], victim.end - 1);
      expectCorruptAt(await openError(), files[1], victim.off);
    });

    it('fails on a truncated non-last segment', async () => {
      const { wal } = await openWal({ segmentBytes: 300 });
      for (let i = 1; i <= 20; i++) await wal.save(null, [ent(i, 1, 20)]);
      await wal.close();
      const files = await segmentFiles();
      const all = await frames(files[0]);
      const victim = all[all.length - 1];
      await truncate(files[0], victim.end - 3);
      expectCorruptAt(await openError(), files[0], victim.off);
    });

    it('fails on a damaged segment header, even in the last segment', async () => {
      const { wal } = await openWal();
      await wal.save(null, range(1, 3, 1));
      await wal.close();
      const [file] = await segmentFiles();
      await flipByte(file, 12);
      expectCorruptAt(await openError(), file, 0);
    });

    it('fails when a segment in the middle is missing', async () => {
      const { wal } = await openWal({ segmentBytes: 300 });
      for (let i = 1; i <= 20; i++) await wal.save(null, [ent(i, 1, 20)]);
      await wal.close();
      const files = await segmentFiles();
      await rm(files[1]);
      const err = await openError();
      expectCorruptAt(err, files[2], 0);
      expect(err.message).toContain('missing');
    });

    it('fails on a gap in entry indexes across segments', async () => {
      const seg0 = encodeRecords([{ kind: 'segmentHeader', seq: 0, firstIndex: 1 }, ...range(1, 3, 1).map((entry) => ({ kind: 'entry' as const, entry }))]);
      await writeFile(path.join(dir, segmentFileName(0, 1)), seg0);
      const seg1Path = path.join(dir, segmentFileName(1, 4));
      const seg1 = encodeRecords([{ kind: 'segmentHeader', seq: 1, firstIndex: 4 }, { kind: 'entry', entry: ent(5, 1) }]);
      await writeFile(seg1Path, seg1);
      const err = await openError();
      expectCorruptAt(err, seg1Path, seg1.length - (9 + 17 + 16));
      expect(err.message).toContain('gap');

      await rm(seg1Path);
      const skipping = path.join(dir, segmentFileName(1, 6));
      await writeFile(skipping, encodeRecords([{ kind: 'segmentHeader', seq: 1, firstIndex: 6 }, { kind: 'entry', entry: ent(6, 1) }]));
      expectCorruptAt(await openError(), skipping, 0);
    });
  });

  describe('snapshot marker and releaseTo', () => {
    it('deletes old segments; reopen returns the marker, later entries and the hardState', async () => {
      const { wal } = await openWal({ segmentBytes: 300 });
      await wal.save({ term: 1, vote: 3, commit: 0 }, []); // the only hardState record, in the first segment
      for (let i = 1; i <= 40; i++) await wal.save(null, [ent(i, 1, 20)]);
      const before = await segmentFiles();
      await wal.saveSnapshotMarker(30, 1);
      await wal.releaseTo(30);
      const after = await segmentFiles();
      expect(after.length).toBeLessThan(before.length);
      expect(after).not.toContain(before[0]);
      expect(after).toEqual(before.slice(before.length - after.length));
      let onDisk = 0;
      for (const f of after) onDisk += (await stat(f)).size;
      expect(wal.sizeBytes()).toBe(onDisk);
      await wal.save(null, [ent(41, 1, 20)]);
      await wal.close();

      const { state } = await openWal({ segmentBytes: 300 });
      expect(state.snapshot).toEqual({ index: 30, term: 1 });
      expect(state.entries).toEqual(range(31, 41, 1, 20));
      expect(state.hardState).toEqual({ term: 1, vote: 3, commit: 0 });
    });

    it('never deletes the active segment', async () => {
      const { wal } = await openWal({ segmentBytes: 300 });
      await wal.save({ term: 4, vote: 1, commit: 9 }, range(1, 30, 4, 20));
      await wal.save(null, [ent(31, 4)]); // rolls: the big batch filled the first segment
      await wal.saveSnapshotMarker(20, 4);
      await wal.releaseTo(1_000);
      expect(await segmentFiles()).toHaveLength(1);
      await wal.close();
      const { state } = await openWal();
      expect(state.snapshot).toEqual({ index: 20, term: 4 });
      expect(state.hardState).toEqual({ term: 4, vote: 1, commit: 9 });
      expect(state.entries).toEqual([ent(31, 4)]);
    });

    it('continues after a snapshot beyond the log (installed from a leader)', async () => {
      const { wal } = await openWal();
      await wal.save(null, range(1, 5, 1));
      await wal.saveSnapshotMarker(100, 3);
      await wal.save({ term: 3, vote: 0, commit: 100 }, range(101, 103, 3));
      await wal.close();
      const { state } = await openWal();
      expect(state.snapshot).toEqual({ index: 100, term: 3 });
      expect(state.entries).toEqual(range(101, 103, 3));
    });
  });

  it('removes a segment whose creation a crash interrupted', async () => {
    const { wal } = await openWal();
    await wal.save(null, range(1, 3, 1));
    await wal.close();
    const tmp = path.join(dir, segmentFileName(1, 4) + '.tmp');
    await writeFile(tmp, Buffer.from('half a header'));
    const warnings: string[] = [];
    const { state } = await openWal({ onWarning: (msg) => warnings.push(msg) });
    expect(state.entries).toEqual(range(1, 3, 1));
    expect(warnings).toHaveLength(1);
    expect(await readdir(dir)).not.toContain(path.basename(tmp));
  });

  describe('preallocation', () => {
    /** Every segment's bytes after its last record are zero; returns how many segments have such a tail. */
    async function expectZeroTails(files: string[]): Promise<number> {
      let withTail = 0;
      for (const f of files) {
        const buf = await readFile(f);
        const end = await logicalEnd(f);
        expect(isAllZero(buf.subarray(end))).toBe(true);
        if (end < buf.length) withTail++;
      }
      return withTail;
    }

    /** Leaves a non-last segment (the first) whose records end well before its preallocated length. */
    async function writeShortNonLastSegment(): Promise<string> {
      const first = await openWal({ segmentBytes: 4096 });
      await first.wal.save({ term: 1, vote: 1, commit: 0 }, range(1, 20, 1, 40)); // ~1.3 KB of 4 KiB
      await first.wal.close();
      // A smaller segmentBytes later (a configuration change) rolls at once, keeping the zero tail.
      const second = await openWal({ segmentBytes: 1024 });
      await second.wal.save(null, range(21, 25, 1, 40));
      await second.wal.close();
      const files = await segmentFiles();
      expect(files).toHaveLength(2);
      expect(await logicalEnd(files[0])).toBeLessThan((await stat(files[0])).size);
      return files[0];
    }

    it('makes every segment segmentBytes long, zero after its records; replays and appends at the logical end across rolls', async () => {
      const first = await openWal({ segmentBytes: 4096 });
      const all: Entry[] = [];
      for (let i = 1; i <= 100; i++) {
        await first.wal.save({ term: 1, vote: 1, commit: i - 1 }, [ent(i, 1, 100)]);
        all.push(ent(i, 1, 100));
      }
      let files = await segmentFiles();
      expect(files.length).toBeGreaterThanOrEqual(4);
      let onDisk = 0;
      for (const f of files) {
        const size = (await stat(f)).size;
        expect(size).toBeGreaterThanOrEqual(4096);
        onDisk += size;
      }
      expect(first.wal.sizeBytes()).toBe(onDisk); // physical bytes, preallocation included
      expect(await expectZeroTails(files)).toBeGreaterThanOrEqual(1); // the last one at least
      await first.wal.close();
      expect((await readdir(dir)).filter((n) => !n.endsWith('.wal'))).toEqual([]); // no spare left behind

      // Reopened with smaller segments: the partly filled last segment rolls at once and stays
      // behind with its zero tail, so replay meets one in a non-last segment too.
      const warnings: string[] = [];
      const second = await openWal({ segmentBytes: 2048, onWarning: (msg) => warnings.push(msg) });
      expect(second.state.entries).toEqual(all);
      expect(second.state.repairedTornTail).toBeNull();
      for (let i = 101; i <= 150; i++) {
        await second.wal.save({ term: 2, vote: 1, commit: i - 1 }, [ent(i, 2, 100)]);
        all.push(ent(i, 2, 100));
      }
      await second.wal.close();
      files = await segmentFiles();
      expect(await expectZeroTails(files.slice(0, -1))).toBeGreaterThanOrEqual(1);
      expect((await stat(files[files.length - 1])).size).toBeGreaterThanOrEqual(2048);

      const third = await openWal({ segmentBytes: 2048, onWarning: (msg) => warnings.push(msg) });
      expect(third.state.entries).toEqual(all);
      expect(third.state.hardState).toEqual({ term: 2, vote: 1, commit: 149 });
      expect(third.state.repairedTornTail).toBeNull();
      expect(warnings).toEqual([]);
    });

    it('fails on a non-zero byte in the zero tail of a non-last segment, whether right after the last record or deep in it', async () => {
      const file = await writeShortNonLastSegment();
      const end = await logicalEnd(file);
      const length = (await stat(file)).size;
      for (const at of [end, end + 1, end + 9, length - 1]) {
        await flipByte(file, at);
        expectCorruptAt(await openError(), file, end);
        await flipByte(file, at); // flipped back: the WAL is whole again
      }
      expect((await openWal({ segmentBytes: 1024 })).state.entries).toEqual(range(1, 25, 1, 40));
    });

    it('fails on a non-zero byte deep in the zero tail of the last segment: a zero-length frame before data is no end', async () => {
      const { wal } = await openWal({ segmentBytes: 4096 });
      await wal.save(null, range(1, 10, 1, 30));
      await wal.close();
      const [file] = await segmentFiles();
      const end = await logicalEnd(file);
      await flipByte(file, end + 200);
      expectCorruptAt(await openError(), file, end);
      expect((await stat(file)).size).toBe(4096); // nothing repaired or cut
    });

    it('repairs a partial batch followed by zeros in the last segment by zeroing it, so a shorter append leaves no garbage', async () => {
      const { wal } = await openWal({ segmentBytes: 4096 });
      await wal.save({ term: 1, vote: 1, commit: 0 }, range(1, 10, 1, 30));
      await wal.close();
      const [file] = await segmentFiles();
      const end = await logicalEnd(file);
      // A crash halfway through an O_DSYNC write of the next save: its first bytes are there.
      const batch = encodeRecords(range(11, 13, 1, 600).map((entry) => ({ kind: 'entry' as const, entry })));
      const buf = await readFile(file);
      batch.copy(buf, end, 0, 400);
      await writeFile(file, buf);

      const warnings: string[] = [];
      const reopened = await openWal({ segmentBytes: 4096, onWarning: (msg) => warnings.push(msg) });
      expect(reopened.state.repairedTornTail).toEqual({ file, offset: end });
      expect(warnings).toHaveLength(1);
      expect(reopened.state.entries).toEqual(range(1, 10, 1, 30));
      const repaired = await readFile(file);
      expect(repaired.length).toBe(4096);
      expect(isAllZero(repaired.subarray(end))).toBe(true);

      // A short append, then enough to roll: the repaired segment must replay as a non-last one.
      await reopened.wal.save(null, [ent(11, 2, 5)]);
      for (let i = 12; i <= 80; i++) await reopened.wal.save(null, [ent(i, 2, 60)]);
      await reopened.wal.close();
      expect((await segmentFiles()).length).toBeGreaterThan(1);
      const again = await openWal({ segmentBytes: 4096 });
      expect(again.state.repairedTornTail).toBeNull();
      expect(again.state.entries).toEqual([...range(1, 10, 1, 30), ent(11, 2, 5), ...range(12, 80, 2, 60)]);
    });

    it('rolls into the spare prepared in the background instead of zero-filling 64 MiB on the save path', async () => {
      const { wal } = await openWal(); // the default 64 MiB segments
      const [firstFile] = await segmentFiles();
      expect((await stat(firstFile)).size).toBe(DEFAULT_SEGMENT_BYTES);
      const spare = path.join(dir, 'spare.wal.tmp');
      expect(await readdir(dir)).not.toContain('spare.wal.tmp'); // not before the segment is half full

      const half = DEFAULT_SEGMENT_BYTES / 2;
      const big = (index: number): Entry => ({ index, term: 1, type: 'normal', data: new Uint8Array(half).fill(index) });
      await wal.save(null, [big(1)]);
      // Reaching into the Wal to wait for the background preparation deterministically.
      await (wal as unknown as { spare: Promise<unknown> }).spare;
      const prepared = await stat(spare);
      expect(prepared.size).toBe(DEFAULT_SEGMENT_BYTES);
      await wal.save(null, [big(2)]); // fills the segment (and grows it a little past)
      expect(await segmentFiles()).toHaveLength(1);

      await wal.save(null, [ent(3, 1, 10)]); // rolls
      const files = await segmentFiles();
      expect(files).toHaveLength(2);
      const rolled = await stat(files[1]);
      // The very file prepared beforehand, renamed: the roll wrote a header, not 64 MiB of zeros.
      expect(rolled.ino).toBe(prepared.ino);
      expect(rolled.size).toBe(DEFAULT_SEGMENT_BYTES);
      expect(await readdir(dir)).not.toContain('spare.wal.tmp');
      expect(wal.sizeBytes()).toBe((await stat(files[0])).size + DEFAULT_SEGMENT_BYTES);
      await wal.close();

      const { state } = await openWal();
      expect(state.entries.map((e) => [e.index, e.data.length])).toEqual([
        [1, half],
        [2, half],
        [3, 10],
      ]);
    });

    it('deletes the spare on close and a leftover one at open, silently', async () => {
      const { wal } = await openWal({ segmentBytes: 4096 });
      await wal.save(null, range(1, 40, 1, 40)); // past half: a spare is prepared
      await (wal as unknown as { spare: Promise<unknown> }).spare;
      expect(await readdir(dir)).toContain('spare.wal.tmp');
      await wal.close();
      expect(await readdir(dir)).not.toContain('spare.wal.tmp');

      await writeFile(path.join(dir, 'spare.wal.tmp'), Buffer.alloc(4096, 0x11)); // as a crash may leave it, header written or not
      const warnings: string[] = [];
      // Larger segments this time, so that the active one is below half full and no new spare starts.
      const { state } = await openWal({ segmentBytes: 65536, onWarning: (msg) => warnings.push(msg) });
      expect(state.entries).toEqual(range(1, 40, 1, 40));
      expect(warnings).toEqual([]);
      expect(await readdir(dir)).not.toContain('spare.wal.tmp');
    });

    it('falls back to a segment without preallocation when the spare cannot be prepared', async () => {
      const warnings: string[] = [];
      const { wal } = await openWal({ segmentBytes: 4096, onWarning: (msg) => warnings.push(msg) });
      await mkdir(path.join(dir, 'spare.wal.tmp')); // opening it as a file fails
      for (let i = 1; i <= 60; i++) await wal.save(null, [ent(i, 1, 60)]);
      expect(warnings).toContain('could not preallocate the next WAL segment');
      const files = await segmentFiles();
      expect(files.length).toBeGreaterThan(1);
      expect((await stat(files[1])).size).toBe(await logicalEnd(files[1])); // grown by appends
      await wal.close();
      await rm(path.join(dir, 'spare.wal.tmp'), { recursive: true });
      expect((await openWal({ segmentBytes: 4096 })).state.entries).toEqual(range(1, 60, 1, 60));
    });
  });
});
