/** Plain aligned-column tables and number formatting for benchmark reports. */

export type Align = 'left' | 'right';

/** Renders rows under a header, columns padded to their widest cell; numbers-like cells right-aligned unless `align` says otherwise. */
export function renderTable(header: string[], rows: string[][], align?: Align[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const isNumeric = (s: string): boolean => /^[-~≥<>+]?[\d.,]+(\s?(ms|s|×|MiB|ops\/s|%))?$/.test(s.trim());
  const cell = (s: string, i: number): string => {
    const a = align?.[i] ?? (i > 0 && isNumeric(s) ? 'right' : 'left');
    return a === 'right' ? s.padStart(widths[i]) : s.padEnd(widths[i]);
  };
  const line = (r: string[]): string => `| ${r.map((s, i) => cell(s ?? '', i)).join(' | ')} |`;
  const sep = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [line(header), sep, ...rows.map(line)].join('\n');
}

export function printTable(header: string[], rows: string[][], align?: Align[]): void {
  process.stdout.write(`${renderTable(header, rows, align)}\n`);
}

export function fmtOps(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return 'n/a';
  return Math.round(n).toLocaleString('en-US');
}

export function fmtMs(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return 'n/a';
  return n < 10 ? `${n.toFixed(2)} ms` : n < 100 ? `${n.toFixed(1)} ms` : `${Math.round(n)} ms`;
}

export function fmtRatio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return 'n/a';
  return `${(a / b).toFixed(2)}×`;
}

export function fmtMiB(kib: number | undefined): string {
  if (kib === undefined) return 'n/a';
  return `${(kib / 1024).toFixed(1)} MiB`;
}
