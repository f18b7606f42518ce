/**
 * Output helpers of `flotilla kv`, matching etcdctl's simple and table printers.
 */
import { Buffer } from 'node:buffer';

/** Where output goes: process.stdout/stderr, or a test's capture. */
export interface Writer {
  write(chunk: string | Uint8Array): unknown;
}

/** Collects output as bytes (values are printed raw, like etcdctl) and writes it in one go. */
export class Out {
  private readonly parts: Uint8Array[] = [];

  line(...items: (string | Uint8Array)[]): this {
    for (const it of items) this.parts.push(typeof it === 'string' ? Buffer.from(it, 'utf8') : it);
    this.parts.push(NL);
    return this;
  }

  flush(w: Writer): void {
    if (this.parts.length === 0) return;
    w.write(Buffer.concat(this.parts));
    this.parts.length = 0;
  }
}

const NL = Buffer.from('\n');

/** etcdctl's `%016x` for lease ids. */
export function leaseHex(id: number): string {
  return id.toString(16).padStart(16, '0');
}

/** etcdctl's `%x` for member and cluster ids. */
export function hex(id: number): string {
  return id.toString(16);
}

/** go-humanize's Bytes (SI units), as etcdctl prints DB SIZE. */
export function humanBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const sizes = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.min(Math.floor(Math.log(n) / Math.log(1000)), sizes.length - 1);
  const val = Math.floor((n / 1000 ** e) * 10 + 0.5) / 10;
  return `${val < 10 ? val.toFixed(1) : val.toFixed(0)} ${sizes[e]}`;
}

/** Go's time.Duration String() for a duration in milliseconds (e.g. 1.234567ms, 2.5s). */
export function goDuration(ms: number): string {
  if (ms >= 1000) return `${trim((ms / 1000).toFixed(9))}s`;
  if (ms >= 1) return `${trim(ms.toFixed(6))}ms`;
  return `${trim((ms * 1000).toFixed(3))}µs`;
}

function trim(s: string): string {
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

/** tablewriter as etcdctl configures it: centred header, right-aligned cells, +---+ borders. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const sep = '+' + widths.map((w) => '-'.repeat(w + 2)).join('+') + '+';
  const centre = (s: string, w: number): string => {
    const left = Math.floor((w - s.length) / 2);
    return ' '.repeat(left) + s + ' '.repeat(w - s.length - left);
  };
  const lines = [sep, '| ' + header.map((h, i) => centre(h, widths[i])).join(' | ') + ' |', sep];
  for (const r of rows) lines.push('| ' + widths.map((w, i) => (r[i] ?? '').padStart(w)).join(' | ') + ' |');
  lines.push(sep);
  return lines.join('\n');
}
