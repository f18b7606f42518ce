/**
 * The etcd v3 JSON gateway shapes (also served by raftkv): base64 keys and values, POST
 * /v3/kv/put, /v3/kv/range, /v3/maintenance/status. Request builders for the load generator and
 * leader discovery / health waiting for the harness.
 */
import { postJson, type RequestSpec } from './load.js';
import { sleep } from './stats.js';

export const b64 = (s: string | Uint8Array): string => Buffer.from(s).toString('base64');

export function putRequest(key: string, valueB64: string): RequestSpec {
  return { path: '/v3/kv/put', body: `{"key":"${b64(key)}","value":"${valueB64}"}` };
}

export function rangeRequest(key: string, serializable: boolean): RequestSpec {
  return { path: '/v3/kv/range', body: JSON.stringify({ key: b64(key), serializable }) };
}

interface StatusJson {
  header?: { member_id?: string | number };
  leader?: string | number;
  version?: string;
  raftIndex?: string | number;
}

export interface MemberStatus {
  origin: string;
  memberId: string;
  leader: string; // '' or '0' when none is known
  raftIndex?: string;
  version?: string;
}

export async function status(origin: string, timeoutMs = 1_000): Promise<MemberStatus> {
  const res = await postJson<StatusJson>(`${origin}/v3/maintenance/status`, {}, timeoutMs);
  if (res.status < 200 || res.status >= 300 || !res.json) throw new Error(`status ${origin}: HTTP ${res.status} ${res.text.slice(0, 200)}`);
  const memberId = res.json.header?.member_id;
  if (memberId === undefined) throw new Error(`status ${origin}: no header.member_id in ${res.text.slice(0, 200)}`);
  return {
    origin,
    memberId: String(memberId),
    leader: res.json.leader === undefined ? '' : String(res.json.leader),
    raftIndex: res.json.raftIndex === undefined ? undefined : String(res.json.raftIndex),
    version: res.json.version,
  };
}

const noLeader = (l: string): boolean => l === '' || l === '0';

/**
 * The leader's origin if every one of `origins` answers status and all agree on one leader that
 * is among them; otherwise undefined.
 */
export async function agreedLeader(origins: string[]): Promise<string | undefined> {
  const all = await Promise.all(origins.map((o) => status(o).catch(() => undefined)));
  if (all.some((s) => s === undefined)) return undefined;
  const sts = all as MemberStatus[];
  const leader = sts[0].leader;
  if (noLeader(leader) || sts.some((s) => s.leader !== leader)) return undefined;
  return sts.find((s) => s.memberId === leader)?.origin;
}

/** Origin of the member whose header.member_id equals its own `leader` field. */
export async function findLeader(origins: string[]): Promise<string | undefined> {
  const all = await Promise.all(origins.map((o) => status(o).catch(() => undefined)));
  return all.find((s) => s !== undefined && !noLeader(s.leader) && s.memberId === s.leader)?.origin;
}

/**
 * Waits until all members agree on a leader and a put through the leader succeeds.
 * `check` is called between polls (e.g. to fail fast when a member process died).
 */
export async function waitHealthy(origins: string[], timeoutMs: number, check?: () => void): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    check?.();
    const leader = await agreedLeader(origins).catch(() => undefined);
    if (leader) {
      try {
        const res = await postJson(`${leader}/v3/kv/put`, { key: b64('bench/health'), value: b64('ok') }, 2_000);
        if (res.status >= 200 && res.status < 300) return leader;
        last = `put via ${leader}: HTTP ${res.status} ${res.text.slice(0, 200)}`;
      } catch (err) {
        last = `put via ${leader}: ${String(err)}`;
      }
    } else {
      last = 'members do not agree on a leader';
    }
    await sleep(100);
  }
  throw new Error(`cluster not healthy after ${timeoutMs} ms (${last})`);
}
