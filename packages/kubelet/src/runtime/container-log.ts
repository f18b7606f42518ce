/**
 * A container's log as the process runtime keeps it: the CRI logging format Kubernetes' own
 * runtimes write (`<RFC 3339 nano time> <stdout|stderr> <F|P> <content>\n`, F for a full line,
 * P for a piece of a longer one or of an unterminated last line), rotated by size into
 * `log.1 … log.N` as the kubelet's containerLogMaxSize / containerLogMaxFiles do. Each record
 * keeps its time, so `--timestamps` and `--since-time` can be answered; rotation keeps a chatty
 * container from filling the disk.
 *
 * The shim writes (LogWriter); the kubelet reads (readContainerLog), also while the shim writes.
 */
import { closeSync, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { LogOptions } from './runtime.js';

export const LOG_FILE = 'log';

export interface RotationPolicy {
  /** Rotate once the current file is larger than this. Kubernetes: 10 MiB. */
  maxBytes: number;
  /** Files kept, the current one included. Kubernetes: 5. */
  maxFiles: number;
}

export const KUBERNETES_LOG_ROTATION: RotationPolicy = { maxBytes: 10 * 1024 * 1024, maxFiles: 5 };

/** A line longer than this is split into P records, as CRI runtimes split at 16 KiB. */
const MAX_RECORD = 16 * 1024;

export type Stream = 'stdout' | 'stderr';

export interface LogRecord {
  time: string;
  stream: Stream;
  /** F: the content ended with a newline (not stored); P: it did not. */
  full: boolean;
  content: Buffer;
}

/** A wall clock with nanosecond digits that never goes back: the start time plus the monotonic clock's progress. */
export function logClock(): () => string {
  const base = BigInt(Date.now()) * 1_000_000n;
  const hr0 = process.hrtime.bigint();
  return () => {
    const ns = base + (process.hrtime.bigint() - hr0);
    const iso = new Date(Number(ns / 1_000_000n)).toISOString(); // …T12:34:56.789Z
    return `${iso.slice(0, 23)}${String(ns % 1_000_000n).padStart(6, '0')}Z`;
  };
}

/** Writes records to `dir/log`, rotating by size. Synchronous: the shim does nothing else. */
export class LogWriter {
  private fd: number;
  private size: number;
  private readonly pending: Record<Stream, Buffer[]> = { stdout: [], stderr: [] };

  constructor(private readonly dir: string, private readonly policy: RotationPolicy, private readonly now: () => string) {
    this.fd = openSync(path.join(dir, LOG_FILE), 'a');
    this.size = fstatSync(this.fd).size;
  }

  /** Bytes from a stream: complete lines become F records; the rest waits for its newline. */
  write(stream: Stream, chunk: Buffer): void {
    let rest = chunk;
    for (let nl = rest.indexOf(10); nl >= 0; nl = rest.indexOf(10)) {
      this.pending[stream].push(rest.subarray(0, nl));
      this.flush(stream, true);
      rest = rest.subarray(nl + 1);
    }
    if (rest.length > 0) this.pending[stream].push(rest);
    while (this.pendingBytes(stream) >= MAX_RECORD) this.flush(stream, false, MAX_RECORD);
  }

  /** At exit: an unterminated last line is kept as a P record. */
  end(): void {
    for (const s of ['stdout', 'stderr'] as const) if (this.pendingBytes(s) > 0) this.flush(s, false);
    closeSync(this.fd);
  }

  private pendingBytes(stream: Stream): number {
    return this.pending[stream].reduce((n, b) => n + b.length, 0);
  }

  /**
   * Writes what waits for `stream`: with `full`, all of it as one line (its head in P records of
   * at most MAX_RECORD, the end in an F record); without, up to `limit` bytes as a P record.
   */
  private flush(stream: Stream, full: boolean, limit = Infinity): void {
    let all = Buffer.concat(this.pending[stream]);
    this.pending[stream] = [];
    if (!full) {
      if (all.length > limit) {
        this.pending[stream] = [all.subarray(limit)];
        all = all.subarray(0, limit);
      }
      this.record(stream, 'P', all);
      return;
    }
    for (; all.length > MAX_RECORD; all = all.subarray(MAX_RECORD)) this.record(stream, 'P', all.subarray(0, MAX_RECORD));
    this.record(stream, 'F', all);
  }

  private record(stream: Stream, tag: 'F' | 'P', content: Buffer): void {
    const record = Buffer.concat([Buffer.from(`${this.now()} ${stream} ${tag} `), content, Buffer.from('\n')]);
    writeSync(this.fd, record);
    this.size += record.length;
    if (this.size > this.policy.maxBytes) this.rotate();
  }

  /** log → log.1 → log.2 …; the oldest beyond maxFiles goes. A reader holding the old file keeps reading it. */
  private rotate(): void {
    closeSync(this.fd);
    const name = (i: number): string => path.join(this.dir, i === 0 ? LOG_FILE : `${LOG_FILE}.${i}`);
    rmSync(name(this.policy.maxFiles - 1), { force: true });
    for (let i = this.policy.maxFiles - 2; i >= 0; i--) {
      try {
        renameSync(name(i), name(i + 1));
      } catch {
        // not there yet
      }
    }
    this.fd = openSync(name(0), 'a');
    this.size = 0;
  }
}

/** The records in a buffer of whole lines; a line that is not a record is kept as stdout content. */
export function parseRecords(buf: Buffer): LogRecord[] {
  const out: LogRecord[] = [];
  let start = 0;
  for (let nl = buf.indexOf(10, start); nl >= 0; start = nl + 1, nl = buf.indexOf(10, start)) {
    const line = buf.subarray(start, nl);
    const s1 = line.indexOf(32);
    const s2 = line.indexOf(32, s1 + 1);
    const s3 = line.indexOf(32, s2 + 1);
    if (s1 < 0 || s2 < 0 || s3 < 0) {
      out.push({ time: '', stream: 'stdout', full: true, content: line });
      continue;
    }
    const stream = line.subarray(s1 + 1, s2).toString() === 'stderr' ? 'stderr' : 'stdout';
    out.push({ time: line.subarray(0, s1).toString(), stream, full: line[s2 + 1] !== 80 /* P */, content: line.subarray(s3 + 1) });
  }
  return out;
}

/** A record as output; `stamp` prefixes its time (only at the start of a line, as the kubelet does). */
function render(r: LogRecord, stamp: boolean): Buffer {
  const parts = [r.content];
  if (stamp) parts.unshift(Buffer.from(`${r.time} `));
  if (r.full) parts.push(Buffer.from('\n'));
  return Buffer.concat(parts);
}

/** Records at or after `since`; the times are RFC 3339, and compare as dates. */
function after(records: LogRecord[], since: Date | undefined): LogRecord[] {
  if (!since) return records;
  const t = since.getTime();
  // Sub-millisecond digits do not matter for a selection made in seconds.
  return records.filter((r) => Date.parse(r.time) >= t);
}

/** The last n lines: a line is a run of P records ended by an F one (or by the end). */
function tail(records: LogRecord[], n: number | undefined): LogRecord[] {
  if (n === undefined) return records;
  if (n <= 0) return [];
  const starts = [0];
  records.forEach((r, i) => {
    if (r.full && i + 1 < records.length) starts.push(i + 1);
  });
  if (records.length === 0 || n >= starts.length) return records;
  return records.slice(starts[starts.length - n]);
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Opens a log file for reading. A rotation renames `log` away a moment before the writer creates
 * the next one, and a reader that comes in between finds no file: it tries again briefly.
 */
async function openLog(file: string): Promise<FileHandle> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 50) throw err;
      await sleep(2);
    }
  }
}

/** The file written after the one with inode `ino`: its younger neighbour in log.N … log.1, log. */
async function successorOf(dir: string, ino: number): Promise<string> {
  for (let k = 1; ; k++) {
    const st = await stat(path.join(dir, `${LOG_FILE}.${k}`)).catch(() => undefined);
    if (!st) break;
    if (st.ino === ino) return path.join(dir, k === 1 ? LOG_FILE : `${LOG_FILE}.${k - 1}`);
  }
  return path.join(dir, LOG_FILE); // rotated out of reach: the newest is the best left
}

/**
 * A container's log as a stream. With follow, it keeps reading the current file (and moves on
 * to the new one when it is rotated away) until `exited()` is true and everything is read, or
 * the signal aborts.
 */
export function readContainerLog(dir: string, opts: LogOptions, exited: () => Promise<boolean>, pollMs = 100): Readable {
  const timestamps = opts.timestamps ?? false;
  let budget = opts.limitBytes ?? Infinity;

  async function* generate(): AsyncGenerator<Buffer> {
    let lineStart = true;
    const emit = (records: LogRecord[]): Buffer | undefined => {
      if (records.length === 0 || budget <= 0) return undefined;
      let out = Buffer.concat(records.map((r) => {
        const b = render(r, timestamps && lineStart);
        lineStart = r.full;
        return b;
      }));
      if (out.length > budget) out = out.subarray(0, budget);
      budget -= out.length;
      return out;
    };
    // What is there now: the current file is opened first, then the rotated ones are read oldest
    // first, skipping the current one should it have been rotated meanwhile (it is read through
    // its handle), so that a rotation at this moment neither skips nor repeats a file.
    const current = path.join(dir, LOG_FILE);
    let handle = await openLog(current);
    try {
      let ino = (await handle.stat()).ino;
      const rotated: Buffer[] = [];
      for (let i = 1; ; i++) {
        const file = path.join(dir, `${LOG_FILE}.${i}`);
        const st = await stat(file).catch(() => undefined);
        if (!st) break;
        if (st.ino === ino) {
          // Ours was rotated meanwhile: what was read so far is newer, and comes after it.
          rotated.length = 0;
          continue;
        }
        const buf = await readFile(file).catch(() => undefined);
        if (buf) rotated.unshift(buf);
      }
      let offset = 0;
      let carry = Buffer.alloc(0);
      const readNew = async (): Promise<LogRecord[]> => {
        const chunks: Buffer[] = [carry];
        for (;;) {
          const buf = Buffer.alloc(64 * 1024);
          const { bytesRead } = await handle.read(buf, 0, buf.length, offset);
          if (bytesRead === 0) break;
          offset += bytesRead;
          chunks.push(buf.subarray(0, bytesRead));
        }
        const all = Buffer.concat(chunks);
        const end = all.lastIndexOf(10) + 1;
        carry = Buffer.from(all.subarray(end));
        return parseRecords(all.subarray(0, end));
      };
      const first = emit(tail(after([...rotated.flatMap((b) => parseRecords(b)), ...(await readNew())], opts.sinceTime), opts.tailLines));
      if (first) yield first;
      if (!opts.follow) return;
      while (budget > 0 && !opts.signal?.aborted) {
        // Exited is checked before the last read, so output written just before the exit is not lost.
        const done = await exited();
        const more = emit(after(await readNew(), opts.sinceTime));
        if (more) yield more;
        const now = await stat(current).catch(() => undefined);
        if (now && now.ino !== ino) {
          // Rotated. The writer closes a file before renaming it, so the old one (still open
          // here) is complete now, but records may have landed in it after the read above: read
          // it to its end. Then carry on with the file written after it, which is not always the
          // current one when rotations came quickly.
          const rest = emit(after(await readNew(), opts.sinceTime));
          if (rest) yield rest;
          await handle.close();
          handle = await openLog(await successorOf(dir, ino));
          ino = (await handle.stat()).ino;
          offset = 0;
          carry = Buffer.alloc(0);
          continue;
        }
        if (done) return;
        await sleep(pollMs, opts.signal);
      }
    } finally {
      await handle.close();
    }
  }
  return Readable.from(generate(), { objectMode: false });
}
