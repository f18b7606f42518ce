/**
 * Who is calling. Like kube-apiserver: a bearer token from the static token file
 * (`token,user,uid,"group1,group2"` per line), or a client certificate signed by the client CA
 * (CN = user, O = groups). No credentials is anonymous, which is refused (401) except for the
 * health and version endpoints. Tokens never reach a log line.
 */
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import { timingSafeEqual, createHash } from 'node:crypto';

export interface UserInfo {
  name: string;
  uid?: string;
  groups: string[];
}

export const ANONYMOUS: UserInfo = { name: 'system:anonymous', groups: ['system:unauthenticated'] };

/** Parses a token file; a malformed line is an error naming the line (never echoing the token). */
export function parseTokenFile(text: string, file = 'token file'): Map<string, UserInfo> {
  const out = new Map<string, UserInfo>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = splitCsv(line);
    if (fields.length < 2 || !fields[0] || !fields[1]) throw new Error(`${file}:${i + 1}: expected token,user[,uid[,"group1,group2"]]`);
    const [token, name, uid, groups] = fields;
    const user: UserInfo = { name, groups: [...(groups ? groups.split(',').map((g) => g.trim()).filter(Boolean) : []), 'system:authenticated'] };
    if (uid) user.uid = uid;
    out.set(digest(token), user);
  }
  return out;
}

function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim());
}

/** Tokens are looked up by digest, so comparisons take the same time whatever the input. */
function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class Authenticator {
  private readonly tokens: Map<string, UserInfo>;

  constructor(opts: { tokenFile?: string; tokens?: Map<string, UserInfo> }) {
    this.tokens = opts.tokens ?? (opts.tokenFile ? parseTokenFile(readFileSync(opts.tokenFile, 'utf8'), opts.tokenFile) : new Map());
  }

  /** The caller, ANONYMOUS when it presented nothing, or undefined when what it presented is wrong. */
  authenticate(req: IncomingMessage): UserInfo | undefined {
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (!m) return undefined;
      const d = digest(m[1]);
      for (const [k, user] of this.tokens) if (timingSafeEqual(Buffer.from(k), Buffer.from(d))) return user;
      return undefined;
    }
    const socket = req.socket as TLSSocket;
    if (typeof socket.getPeerCertificate === 'function' && socket.authorized) {
      const cert = socket.getPeerCertificate();
      const cn = cert?.subject?.CN;
      if (cn) {
        const o = cert.subject.O;
        const groups = Array.isArray(o) ? o : o ? [o] : [];
        return { name: Array.isArray(cn) ? cn[0] : cn, groups: [...groups, 'system:authenticated'] };
      }
    }
    return ANONYMOUS;
  }
}
