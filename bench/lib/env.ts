/** Benchmark settings from the environment: a clear error for a bad value, the default when unset. */
export function envNumber(name: string, def: number, opts: { integer?: boolean } = {}): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  const ok = opts.integer ? Number.isInteger(n) : Number.isFinite(n);
  if (!ok || n <= 0) throw new Error(`${name}=${raw}: expected a positive ${opts.integer ? 'integer' : 'number'}`);
  return n;
}
