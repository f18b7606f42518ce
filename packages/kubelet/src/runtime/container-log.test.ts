import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOG_FILE, LogWriter, parseRecords, readContainerLog, type LogRecord } from './container-log.js';
import { readAll, type LogOptions } from './runtime.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'flotilla-container-log-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A clock that returns 2026-01-01T00:00:0N.00000000NZ for the Nth call (N from 1): distinct, parseable, ordered. */
function fixedClock(): () => string {
  let n = 0;
  return () => {
    n++;
    return `2026-01-01T00:00:${String(n).padStart(2, '0')}.${String(n).padStart(9, '0')}Z`;
  };
}
const big = { maxBytes: 1 << 30, maxFiles: 5 };
const fileOf = (name = LOG_FILE): string => readFileSync(path.join(dir, name), 'utf8');
const lines = (s: string): string[] => s.split('\n').slice(0, -1);
const read = async (opts: LogOptions = {}): Promise<string> => (await readAll(readContainerLog(dir, opts, () => Promise.resolve(true)))).toString();

describe('LogWriter', () => {
  it('writes complete lines as F records, with the time and the stream', () => {
    const w = new LogWriter(dir, big, () => 'T');
    w.write('stdout', Buffer.from('hello\nwor'));
    w.write('stderr', Buffer.from('oops\n'));
    w.write('stdout', Buffer.from('ld\n\n'));
    w.end();
    expect(fileOf()).toBe('T stdout F hello\nT stderr F oops\nT stdout F world\nT stdout F \n');
  });

  it('uses the injected clock for each record', () => {
    const w = new LogWriter(dir, big, fixedClock());
    w.write('stdout', Buffer.from('a\nb\n'));
    w.end();
    expect(fileOf()).toBe('2026-01-01T00:00:01.000000001Z stdout F a\n2026-01-01T00:00:02.000000002Z stdout F b\n');
  });

  it('keeps an unterminated last line as a P record at the end, per stream', () => {
    const w = new LogWriter(dir, big, () => 'T');
    w.write('stdout', Buffer.from('done\npartial'));
    w.write('stderr', Buffer.from('err-partial'));
    expect(fileOf()).toBe('T stdout F done\n');
    w.end();
    expect(fileOf()).toBe('T stdout F done\nT stdout P partial\nT stderr P err-partial\n');
  });

  it('splits a long unterminated line into 16 KiB P records as it comes, and the rest at end()', () => {
    const w = new LogWriter(dir, big, () => 'T');
    w.write('stdout', Buffer.from('z'.repeat(40_000)));
    expect(parseRecords(readFileSync(path.join(dir, LOG_FILE))).map((r) => [r.full, r.content.length])).toEqual([
      [false, 16_384],
      [false, 16_384],
    ]);
    w.end();
    expect(parseRecords(readFileSync(path.join(dir, LOG_FILE))).map((r) => [r.full, r.content.length])).toEqual([
      [false, 16_384],
      [false, 16_384],
      [false, 40_000 - 2 * 16_384],
    ]);
  });

  it('splits a long line that arrives in pieces into 16 KiB P records and a final F', () => {
    const w = new LogWriter(dir, big, () => 'T');
    const line = 'x'.repeat(40_000);
    w.write('stdout', Buffer.from(line.slice(0, 20_000)));
    w.write('stdout', Buffer.from(`${line.slice(20_000)}\n`));
    w.end();
    const recs = parseRecords(readFileSync(path.join(dir, LOG_FILE)));
    expect(recs.map((r) => [r.full, r.content.length])).toEqual([
      [false, 16_384],
      [false, 16_384],
      [true, 40_000 - 2 * 16_384],
    ]);
  });

  it('splits a long line that arrives in one chunk, newline included, into 16 KiB P records and a final F', () => {
    const w = new LogWriter(dir, big, () => 'T');
    w.write('stdout', Buffer.from(`${'y'.repeat(40_000)}\nshort\n`));
    w.end();
    const recs = parseRecords(readFileSync(path.join(dir, LOG_FILE)));
    expect(recs.map((r) => [r.full, r.content.length])).toEqual([
      [false, 16_384],
      [false, 16_384],
      [true, 40_000 - 2 * 16_384],
      [true, 5],
    ]);
  });

  it('appends to an existing log', () => {
    writeFileSync(path.join(dir, LOG_FILE), 'T stdout F before\n');
    const w = new LogWriter(dir, big, () => 'U');
    w.write('stdout', Buffer.from('after\n'));
    w.end();
    expect(fileOf()).toBe('T stdout F before\nU stdout F after\n');
  });

  it('rotates by size into log.1 and log.2, dropping older files', () => {
    const w = new LogWriter(dir, { maxBytes: 200, maxFiles: 3 }, fixedClock());
    // Each record: 30 (time) + 10 (" stdout F ") + 7 ("line-NN") + 1 = 48 bytes: a rotation after every 5th.
    for (let i = 1; i <= 17; i++) w.write('stdout', Buffer.from(`line-${String(i).padStart(2, '0')}\n`));
    w.end();
    expect(readdirSync(dir).sort()).toEqual(['log', 'log.1', 'log.2']);
    const contents = (name: string): string[] => parseRecords(readFileSync(path.join(dir, name))).map((r) => r.content.toString());
    expect(contents('log.2')).toEqual(['line-06', 'line-07', 'line-08', 'line-09', 'line-10']);
    expect(contents('log.1')).toEqual(['line-11', 'line-12', 'line-13', 'line-14', 'line-15']);
    expect(contents('log')).toEqual(['line-16', 'line-17']);
  });
});

describe('parseRecords', () => {
  it('round-trips what LogWriter writes', () => {
    const w = new LogWriter(dir, big, fixedClock());
    w.write('stdout', Buffer.from('one two  three\n'));
    w.write('stderr', Buffer.from('E\n'));
    w.write('stdout', Buffer.from('tail'));
    w.end();
    const recs: LogRecord[] = parseRecords(readFileSync(path.join(dir, LOG_FILE)));
    expect(recs.map((r) => ({ ...r, content: r.content.toString() }))).toEqual([
      { time: '2026-01-01T00:00:01.000000001Z', stream: 'stdout', full: true, content: 'one two  three' },
      { time: '2026-01-01T00:00:02.000000002Z', stream: 'stderr', full: true, content: 'E' },
      { time: '2026-01-01T00:00:03.000000003Z', stream: 'stdout', full: false, content: 'tail' },
    ]);
  });

  it('keeps a line that is not a record as stdout content, and ignores an unterminated last line', () => {
    const recs = parseRecords(Buffer.from('garbage\nT stderr F \nT stdout F x\nno-newline'));
    expect(recs.map((r) => [r.time, r.stream, r.full, r.content.toString()])).toEqual([
      ['', 'stdout', true, 'garbage'],
      ['T', 'stderr', true, ''],
      ['T', 'stdout', true, 'x'],
    ]);
  });
});

describe('readContainerLog (no follow)', () => {
  // Three lines; the second is split in three records, the third is from stderr.
  const LOG = [
    '2026-01-01T00:00:01.000000001Z stdout F first',
    '2026-01-01T00:00:02.000000002Z stdout P sec',
    '2026-01-01T00:00:03.000000003Z stdout P on',
    '2026-01-01T00:00:04.000000004Z stdout F d',
    '2026-01-01T00:00:05.500000005Z stderr F third',
    '',
  ].join('\n');
  beforeEach(() => {
    writeFileSync(path.join(dir, LOG_FILE), LOG);
  });

  it('reads every line, joining P records', async () => {
    expect(await read()).toBe('first\nsecond\nthird\n');
  });

  it('honours tailLines, counting a run of P records and its F as one line', async () => {
    expect(await read({ tailLines: 1 })).toBe('third\n');
    expect(await read({ tailLines: 2 })).toBe('second\nthird\n');
    expect(await read({ tailLines: 3 })).toBe('first\nsecond\nthird\n');
    expect(await read({ tailLines: 100 })).toBe('first\nsecond\nthird\n');
    expect(await read({ tailLines: 0 })).toBe('');
  });

  it('counts an unterminated last line as a line for tailLines', async () => {
    writeFileSync(path.join(dir, LOG_FILE), `${LOG}2026-01-01T00:00:06.000000006Z stdout P unterminated\n`);
    expect(await read({ tailLines: 1 })).toBe('unterminated');
    expect(await read({ tailLines: 2 })).toBe('third\nunterminated');
  });

  it('honours sinceTime, comparing times as dates', async () => {
    expect(await read({ sinceTime: new Date('2026-01-01T00:00:04Z') })).toBe('d\nthird\n');
    expect(await read({ sinceTime: new Date('2026-01-01T00:00:05.500Z') })).toBe('third\n');
    expect(await read({ sinceTime: new Date('2026-01-01T00:00:06Z') })).toBe('');
    expect(await read({ sinceTime: new Date('2026-01-01T00:00:00Z') })).toBe('first\nsecond\nthird\n');
  });

  it('applies tailLines to the lines after sinceTime', async () => {
    expect(await read({ sinceTime: new Date('2026-01-01T00:00:02Z'), tailLines: 1 })).toBe('third\n');
    expect(await read({ sinceTime: new Date('2026-01-01T00:00:05Z'), tailLines: 5 })).toBe('third\n');
  });

  it('prefixes each line with its time when asked (timestamps)', async () => {
    const out = await read({ timestamps: true, tailLines: 1 });
    expect(out).toBe('2026-01-01T00:00:05.500000005Z third\n');
    expect(lines(await read({ timestamps: true }))[0]).toBe('2026-01-01T00:00:01.000000001Z first');
  });

  it('prefixes a line split into P records once, with its first record\'s time (as the kubelet does)', async () => {
    expect(await read({ timestamps: true, tailLines: 2 })).toBe('2026-01-01T00:00:02.000000002Z second\n2026-01-01T00:00:05.500000005Z third\n');
  });

  it('stops after limitBytes', async () => {
    expect(await read({ limitBytes: 3 })).toBe('fir');
    expect(await read({ limitBytes: 13 })).toBe('first\nsecond\n');
    expect(await read({ limitBytes: 1000 })).toBe('first\nsecond\nthird\n');
    expect(await read({ limitBytes: 10, timestamps: true })).toBe('2026-01-01');
  });

  it('reads rotated files oldest first, then the current one', async () => {
    rmSync(path.join(dir, LOG_FILE));
    const w = new LogWriter(dir, { maxBytes: 200, maxFiles: 3 }, fixedClock());
    for (let i = 1; i <= 17; i++) w.write('stdout', Buffer.from(`line-${String(i).padStart(2, '0')}\n`));
    w.end();
    const expected = Array.from({ length: 12 }, (_, k) => `line-${String(k + 6).padStart(2, '0')}`);
    expect(lines(await read())).toEqual(expected);
    expect(lines(await read({ tailLines: 3 }))).toEqual(['line-15', 'line-16', 'line-17']);
    // The clock's Nth call is second N.
    expect(lines(await read({ sinceTime: new Date('2026-01-01T00:00:14Z') }))).toEqual(['line-14', 'line-15', 'line-16', 'line-17']);
  });
});
