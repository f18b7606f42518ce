/** Small durability helpers shared by the WAL and the snapshot store. */
import { writeSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';

/**
 * fsync a directory so that files created, renamed or removed in it survive a power loss:
 * fsyncing a file makes its contents durable, not its name.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** mkdir -p whose new directories are themselves durable (each parent fsynced). */
export async function mkdirDurable(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    await fsyncDir(path.dirname(d));
    if (d === path.resolve(first)) return;
  }
}

/** pwrite until done: a single write may be short (disk full, signals, iovec limits). */
export async function writeAll(h: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.byteLength) {
    const { bytesWritten } = await h.write(buf, done, buf.byteLength - done, position + done);
    if (bytesWritten <= 0) throw new Error(`short write: 0 bytes at position ${position + done}`);
    done += bytesWritten;
  }
}

/** writeAll for a caller that chooses to block its thread on the disk. */
export function writeAllSync(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.byteLength) {
    const n = writeSync(fd, buf, done, buf.byteLength - done, position + done);
    if (n <= 0) throw new Error(`short write: 0 bytes at position ${position + done}`);
    done += n;
  }
}

/**
 * Shared source of zero bytes for preallocating and scrubbing files and for recognising unwritten
 * space. Only ever read: a write into it would corrupt every later use.
 */
export const ZEROS: Buffer = Buffer.alloc(1024 * 1024);

/** Writes zeros over [from, to) in ZEROS-sized chunks; `cancelled` is checked between chunks. */
export async function writeZeros(h: FileHandle, from: number, to: number, cancelled: () => boolean = () => false): Promise<boolean> {
  for (let off = from; off < to; off += ZEROS.length) {
    if (cancelled()) return false;
    await writeAll(h, ZEROS.subarray(0, Math.min(ZEROS.length, to - off)), off);
  }
  return true;
}

/** Whether buf[from, to) holds only zero bytes (memcmp against ZEROS, not a byte loop: segments are 64 MiB). */
export function onlyZeros(buf: Buffer, from: number, to: number = buf.length): boolean {
  for (let p = from; p < to; p += ZEROS.length) {
    const n = Math.min(ZEROS.length, to - p);
    if (!buf.subarray(p, p + n).equals(ZEROS.subarray(0, n))) return false;
  }
  return true;
}

/** One past the last non-zero byte of buf at or after `from`; `from` if there is none. */
export function nonZeroEnd(buf: Buffer, from: number): number {
  for (let hi = buf.length; hi > from; ) {
    const lo = Math.max(from, hi - ZEROS.length);
    if (!onlyZeros(buf, lo, hi)) {
      let i = hi;
      while (buf[i - 1] === 0) i--;
      return i;
    }
    hi = lo;
  }
  return from;
}

export function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}
