/**
 * Flag value parsers shared by the subcommands, so every command refuses a bad value with the
 * same clear message.
 */
import { InvalidArgumentError } from 'commander';

/** A comma-separated list of http:// URLs (with a port when `requirePort`). */
export function httpUrls(value: string, opts: { requirePort: boolean }): string[] {
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new InvalidArgumentError('at least one URL is required');
  for (const u of list) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new InvalidArgumentError(`"${u}" is not a URL (expected e.g. http://127.0.0.1:2379)`);
    }
    if (parsed.protocol !== 'http:') throw new InvalidArgumentError(`"${u}": only http:// URLs are supported for now`);
    if (opts.requirePort && !parsed.port) throw new InvalidArgumentError(`"${u}": a port is required`);
  }
  return list;
}
