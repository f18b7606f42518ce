/**
 * The snapshot store: one file per snapshot, `<term>-<index>.snap` (16 hex digits each, so the
 * newest sorts last), written atomically and checksummed.
 *
 * File format (little-endian), also what encodeSnapshot returns:
 *   header  u32 magic 'FSNP' | u16 version | u16 zero | u32 crc32(body) | u64 body length
 *   body    u64 index | u64 term | u32 voter count | u64 voters… | u32 learner count | u64 learners… | data…
 * The data is the body's tail: save() writes it without copying it, and decode views it.
 */
import { readdir, readFile, rename, rm } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { NodeId, Snapshot } from '../raft/types.js';
import { assertU64, hex16, parseHex16, readU64, writeU64 } from './binary.js';
import { WalError } from './errors.js';
import { fsyncDir, isNotFound, mkdirDurable, writeAll } from './fsutil.js';

const MAGIC = 0x504e5346; // "FSNP" read as a little-endian u32
const VERSION = 1;
const HEADER_BYTES = 20;
const SUFFIX = '.snap';
const TEMP_SUFFIX = '.tmp';
/** Bytes written between flushes when saving: bounds each flush without making many of them. */
const FLUSH_BYTES = 8 * 1024 * 1024;
const NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

export function snapshotFileName(term: number, index: number): string {
  return `${hex16(term)}-${hex16(index)}${SUFFIX}`;
}

export function encodeSnapshot(snap: Snapshot): Uint8Array {
  const meta = encodeMeta(snap);
  const buf = Buffer.allocUnsafe(HEADER_BYTES + meta.length + snap.data.byteLength);
  buf.set(meta, HEADER_BYTES);
  buf.set(snap.data, HEADER_BYTES + meta.length);
  buf.set(encodeHeader(crc32(buf.subarray(HEADER_BYTES)), meta.length + snap.data.byteLength), 0);
  return buf;
}

/** The body's leading part: index, term and the member lists. */
function encodeMeta(snap: Snapshot): Buffer {
  const { index, term, confState } = snap.metadata;
  assertU64(index, 'snapshot index');
  assertU64(term, 'snapshot term');
  for (const id of [...confState.voters, ...confState.learners]) assertU64(id, 'member id');
  const buf = Buffer.allocUnsafe(16 + 4 + 8 * confState.voters.length + 4 + 8 * confState.learners.length);
  writeU64(buf, 0, index);
  writeU64(buf, 8, term);
  let off = 16;
  for (const ids of [confState.voters, confState.learners]) {
    buf.writeUInt32LE(ids.length, off);
    off += 4;
    for (const id of ids) {
      writeU64(buf, off, id);
      off += 8;
    }
  }
  return buf;
}

function encodeHeader(bodyCrc: number, bodyBytes: number): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES);
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt16LE(VERSION, 4);
  buf.writeUInt16LE(0, 6);
  buf.writeUInt32LE(bodyCrc, 8);
  writeU64(buf, 12, bodyBytes);
  return buf;
}

/** Throws SNAPSHOT_CORRUPT on a bad checksum or framing. The returned data is a view into `bytes`. */
export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string): WalError => new WalError('SNAPSHOT_CORRUPT', `snapshot corrupt: ${why}`);
  if (buf.length < HEADER_BYTES) throw bad(`${buf.length} bytes is shorter than the header`);
  if (buf.readUInt32LE(0) !== MAGIC) throw bad('bad magic');
  if (buf.readUInt16LE(4) !== VERSION) throw bad(`unsupported version ${buf.readUInt16LE(4)}`);
  if (readU64(buf, 12) !== buf.length - HEADER_BYTES) throw bad(`body length ${readU64(buf, 12)} but ${buf.length - HEADER_BYTES} bytes follow the header`);
  if (crc32(buf.subarray(HEADER_BYTES)) !== buf.readUInt32LE(8)) throw bad('checksum mismatch');

  // Past the checksum only a writer bug can make these fail; checked anyway so a bug cannot read out of bounds.
  let off = HEADER_BYTES;
  const need = (n: number): void => {
    if (off + n > buf.length) throw bad('metadata runs past the end');
  };
  need(16);
  const index = readU64(buf, off);
  const term = readU64(buf, off + 8);
  off += 16;
  const lists: NodeId[][] = [];
  for (let l = 0; l < 2; l++) {
    need(4);
    const n = buf.readUInt32LE(off);
    off += 4;
    need(8 * n);
    const ids: NodeId[] = [];
    for (let i = 0; i < n; i++, off += 8) ids.push(readU64(buf, off));
    lists.push(ids);
  }
  if ([index, term, ...lists[0], ...lists[1]].some(Number.isNaN)) throw bad('a number is out of range');
  return {
    metadata: { index, term, confState: { voters: lists[0], learners: lists[1] } },
    data: new Uint8Array(buf.buffer, buf.byteOffset + off, buf.length - off),
  };
}

export interface SnapshotterOptions {
  /** How many snapshot files to keep, newest first. Default 3; at least 1. */
  keep?: number;
}

export class Snapshotter {
  private readonly dir: string;
  private readonly keep: number;
  /** Operations run one at a time, so pruning never races a save's temp file. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(dir: string, opts: SnapshotterOptions = {}) {
    const keep = opts.keep ?? 3;
    if (!Number.isSafeInteger(keep) || keep < 1) throw new WalError('WAL_INVALID', `keep must be an integer >= 1, got ${String(opts.keep)}`);
    this.dir = dir;
    this.keep = keep;
  }

  /**
   * Durably stores `snap`: temp file, fsync, rename to its final name, fsync the directory. Then
   * deletes all but the newest `keep` snapshots and any temp files a crash left behind.
   */
  save(snap: Snapshot): Promise<void> {
    return this.serial(async () => {
      const meta = encodeMeta(snap);
      await mkdirDurable(this.dir);
      const file = path.join(this.dir, snapshotFileName(snap.metadata.term, snap.metadata.index));
      const tmp = file + TEMP_SUFFIX;
      const h = await open(tmp, 'w');
      try {
        // The same bytes as encodeSnapshot, written piece by piece: no copy of the data, no
        // checksum of it all in one go on the event loop, and every 8 MiB flushed as it is written.
        // One flush of tens of MiB at the end would hold the disk that long, and every WAL write
        // sharing the disk (all members, on one machine) would wait behind it.
        let crc = crc32(meta);
        await writeAll(h, meta, HEADER_BYTES);
        let pos = HEADER_BYTES + meta.length;
        for (let off = 0; off < snap.data.byteLength; off += FLUSH_BYTES) {
          const piece = snap.data.subarray(off, Math.min(off + FLUSH_BYTES, snap.data.byteLength));
          crc = crc32(piece, crc);
          await writeAll(h, piece, pos);
          pos += piece.byteLength;
          await h.datasync();
        }
        await writeAll(h, encodeHeader(crc, meta.length + snap.data.byteLength), 0);
        await h.sync();
      } finally {
        await h.close();
      }
      await rename(tmp, file);
      await fsyncDir(this.dir);
      await this.prune();
    });
  }

  /** The newest snapshot that passes its checksum; a damaged one is skipped with a warning. Null if none. */
  loadNewest(onWarning?: (msg: string, details: Record<string, unknown>) => void): Promise<Snapshot | null> {
    return this.serial(async () => {
      const { snaps, temps } = await this.list();
      await removeAll(temps);
      for (const { file, term, index } of snaps.reverse()) {
        try {
          const snap = decodeSnapshot(await readFile(file));
          if (snap.metadata.term !== term || snap.metadata.index !== index) {
            throw new WalError('SNAPSHOT_CORRUPT', `snapshot ${snap.metadata.term}-${snap.metadata.index} does not match its file name`);
          }
          return snap;
        } catch (err) {
          onWarning?.('skipping an unreadable snapshot', { file, err });
        }
      }
      return null;
    });
  }

  /**
   * Opens snapshot `term`-`index` to read its data piece by piece, as a leader streams it to a
   * follower, so that a member need not keep its last snapshot (as big as its whole store) in
   * memory for the rare follower that needs it. Header, length and metadata are checked here.
   * Throws (ENOENT) if the snapshot was pruned meanwhile.
   */
  async openData(term: number, index: number): Promise<SnapshotDataReader> {
    const file = path.join(this.dir, snapshotFileName(term, index));
    const h = await open(file, 'r');
    try {
      const bad = (why: string): WalError => new WalError('SNAPSHOT_CORRUPT', `snapshot ${file} corrupt: ${why}`);
      const size = (await h.stat()).size;
      const head = await readExactly(h, HEADER_BYTES, 0, size, bad);
      if (head.readUInt32LE(0) !== MAGIC) throw bad('bad magic');
      if (head.readUInt16LE(4) !== VERSION) throw bad(`unsupported version ${head.readUInt16LE(4)}`);
      const bodyBytes = readU64(head, 12);
      if (bodyBytes !== size - HEADER_BYTES) throw bad(`body length ${bodyBytes} but ${size - HEADER_BYTES} bytes follow the header`);
      const fixed = await readExactly(h, 20, HEADER_BYTES, size, bad);
      if (readU64(fixed, 0) !== index || readU64(fixed, 8) !== term) throw bad(`it holds ${readU64(fixed, 8)}-${readU64(fixed, 0)}`);
      const voters = fixed.readUInt32LE(16);
      const mid = await readExactly(h, 8 * voters + 4, HEADER_BYTES + 20, size, bad);
      const learners = mid.readUInt32LE(8 * voters);
      const tail = await readExactly(h, 8 * learners, HEADER_BYTES + 20 + mid.length, size, bad);
      const meta = Buffer.concat([fixed, mid, tail]);
      return new SnapshotDataReader(h, file, HEADER_BYTES + meta.length, size - HEADER_BYTES - meta.length, crc32(meta), head.readUInt32LE(8));
    } catch (err) {
      await h.close();
      throw err;
    }
  }

  /** Path of the newest snapshot file (to stream to a peer), or null. Not checksum-verified. */
  async newestPath(): Promise<string | null> {
    const { snaps } = await this.list();
    return snaps.length === 0 ? null : snaps[snaps.length - 1].file;
  }

  private async prune(): Promise<void> {
    const { snaps, temps } = await this.list();
    await removeAll([...temps, ...snaps.slice(0, Math.max(0, snaps.length - this.keep)).map((s) => s.file)]);
  }

  /** Snapshot files oldest first, and temp files left by interrupted saves. */
  private async list(): Promise<{ snaps: { file: string; term: number; index: number }[]; temps: string[] }> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).sort();
    } catch (err) {
      if (isNotFound(err)) return { snaps: [], temps: [] };
      throw err;
    }
    const snaps: { file: string; term: number; index: number }[] = [];
    const temps: string[] = [];
    for (const name of names) {
      const file = path.join(this.dir, name);
      if (name.endsWith(SUFFIX + TEMP_SUFFIX)) {
        temps.push(file);
        continue;
      }
      const m = NAME.exec(name);
      if (m === null) continue;
      const term = parseHex16(m[1]);
      const index = parseHex16(m[2]);
      if (!Number.isNaN(term) && !Number.isNaN(index)) snaps.push({ file, term, index });
    }
    return { snaps, temps };
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.chain.then(op);
    this.chain = run.catch(() => {});
    return run;
  }
}

/**
 * A snapshot file's data, read in pieces (Snapshotter.openData). The checksum covers the whole
 * body, so the last piece is handed out only once it matched: whoever reads every piece either
 * gets the exact data that was saved or an error, never corrupt bytes silently.
 */
export class SnapshotDataReader {
  private closed = false;

  constructor(
    private readonly h: FileHandle,
    private readonly file: string,
    private readonly dataStart: number,
    readonly byteLength: number,
    private readonly metaCrc: number,
    private readonly expectedCrc: number,
  ) {}

  async *pieces(maxBytes: number): AsyncGenerator<Uint8Array> {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new WalError('WAL_INVALID', `piece size must be a positive integer, got ${maxBytes}`);
    let crc = this.metaCrc;
    let held: Buffer | undefined;
    for (let off = 0; off < this.byteLength; ) {
      const n = Math.min(maxBytes, this.byteLength - off);
      const piece = Buffer.allocUnsafe(n);
      const { bytesRead } = await this.h.read(piece, 0, n, this.dataStart + off);
      if (bytesRead !== n) throw new WalError('SNAPSHOT_CORRUPT', `snapshot ${this.file} corrupt: it ends early, at ${this.dataStart + off + bytesRead}`);
      crc = crc32(piece, crc);
      off += n;
      if (held) yield held;
      held = piece;
    }
    if (crc !== this.expectedCrc) throw new WalError('SNAPSHOT_CORRUPT', `snapshot ${this.file} corrupt: checksum mismatch`);
    if (held) yield held;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.h.close();
  }
}

async function readExactly(h: FileHandle, n: number, position: number, size: number, bad: (why: string) => WalError): Promise<Buffer> {
  if (position + n > size) throw bad(`it ends at byte ${size}, inside its header or metadata`);
  const buf = Buffer.alloc(n);
  const { bytesRead } = await h.read(buf, 0, n, position);
  if (bytesRead !== n) throw bad(`short read at ${position}`);
  return buf;
}

async function removeAll(files: readonly string[]): Promise<void> {
  for (const f of files) await rm(f, { force: true });
}
