/** Small durability helpers shared by the WAL and the snapshot store. */
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

export function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}
