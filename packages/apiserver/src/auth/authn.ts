/**
 * Who is calling. Like kube-apiserver: a bearer token from the static token file
 * (`token,user,uid,"group1,group2"` per line), a service-account token (a JWT signed with the
 * service-account key, whose account must still exist), or a client certificate signed by the
 * client CA (CN = user, O = groups). No credentials is anonymous, which is refused (401) except for the
 * health and version endpoints. Tokens never reach a log line.
 */
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import { createHash, createPublicKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { verifyServiceAccountToken } from './service-account-tokens.js';

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

export interface AuthenticatorOptions {
  tokenFile?: string;
  tokens?: Map<string, UserInfo>;
  /** PEM public key that service-account tokens are verified with. */
  serviceAccountPublicKey?: string;
  /** The uid of a service account, or undefined when it does not exist (revoking its tokens). */
  serviceAccountUid?: (namespace: string, name: string) => Promise<string | undefined>;
  clock?: () => number;
}

export class Authenticator {
  private readonly tokens: Map<string, UserInfo>;
  private readonly saKey: KeyObject | undefined;

  constructor(private readonly opts: AuthenticatorOptions) {
    this.tokens = opts.tokens ?? (opts.tokenFile ? parseTokenFile(readFileSync(opts.tokenFile, 'utf8'), opts.tokenFile) : new Map());
    this.saKey = opts.serviceAccountPublicKey ? createPublicKey(opts.serviceAccountPublicKey) : undefined;
  }

  /** The caller, ANONYMOUS when it presented nothing, or undefined when what it presented is wrong. */
  async authenticate(req: IncomingMessage): Promise<UserInfo | undefined> {
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (!m) return undefined;
      const d = digest(m[1]);
      for (const [k, user] of this.tokens) if (timingSafeEqual(Buffer.from(k), Buffer.from(d))) return user;
      if (this.saKey && m[1].split('.').length === 3) {
        const sa = verifyServiceAccountToken(m[1], this.saKey, (this.opts.clock ?? Date.now)());
        if (!sa) return undefined;
        const uid = await this.opts.serviceAccountUid?.(sa.namespace, sa.account);
        if (uid === undefined || uid !== sa.accountUid) return undefined;
        return { name: sa.name, uid: sa.uid, groups: sa.groups };
      }
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
