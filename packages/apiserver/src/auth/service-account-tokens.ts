/**
 * Service-account tokens: JWTs signed (RS256) with the cluster's service-account key, as
 * Kubernetes issues them through the TokenRequest API (`kubectl create token`). The claims name
 * the account (sub = system:serviceaccount:<namespace>:<name>); a token is accepted while it has
 * not expired and its account still exists, so deleting the account revokes its tokens.
 */
import { createPrivateKey, createPublicKey, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import type { UserInfo } from './authn.js';

export const ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const DEFAULT_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string[];
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
  'kubernetes.io': { namespace: string; serviceaccount: { name: string; uid: string } };
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export class TokenIssuer {
  private readonly key: KeyObject;
  constructor(privateKeyPem: string) {
    this.key = createPrivateKey(privateKeyPem);
  }

  issue(sa: { namespace: string; name: string; uid: string }, opts: { audiences?: string[]; expirationSeconds: number; now: number }): { token: string; expires: number } {
    const iat = Math.floor(opts.now / 1000);
    const claims: TokenClaims = {
      iss: ISSUER,
      sub: `system:serviceaccount:${sa.namespace}:${sa.name}`,
      aud: opts.audiences && opts.audiences.length > 0 ? opts.audiences : [DEFAULT_AUDIENCE],
      iat,
      nbf: iat,
      exp: iat + opts.expirationSeconds,
      jti: randomUUID(),
      'kubernetes.io': { namespace: sa.namespace, serviceaccount: { name: sa.name, uid: sa.uid } },
    };
    const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
    const body = b64url(JSON.stringify(claims));
    const sig = sign('sha256', Buffer.from(`${head}.${body}`), this.key);
    return { token: `${head}.${body}.${b64url(sig)}`, expires: claims.exp * 1000 };
  }
}

/** What a valid token says, or undefined (bad signature, malformed, expired, wrong issuer or audience). */
export function verifyServiceAccountToken(token: string, publicKeyPem: string | KeyObject, now: number, audience = DEFAULT_AUDIENCE): (UserInfo & { namespace: string; account: string; accountUid: string }) | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as { alg?: string };
    if (header.alg !== 'RS256') return undefined; // never "none", never a MAC keyed with the public key
    const key = typeof publicKeyPem === 'string' ? createPublicKey(publicKeyPem) : publicKeyPem;
    if (!verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), key, Buffer.from(parts[2], 'base64url'))) return undefined;
    const c = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Partial<TokenClaims>;
    const t = Math.floor(now / 1000);
    if (c.iss !== ISSUER || typeof c.exp !== 'number' || c.exp <= t || (typeof c.nbf === 'number' && c.nbf > t + 60)) return undefined;
    if (!Array.isArray(c.aud) || !c.aud.includes(audience)) return undefined;
    const k = c['kubernetes.io'];
    if (!k || typeof k.namespace !== 'string' || typeof k.serviceaccount?.name !== 'string' || c.sub !== `system:serviceaccount:${k.namespace}:${k.serviceaccount.name}`) return undefined;
    return {
      name: c.sub,
      uid: k.serviceaccount.uid,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${k.namespace}`, 'system:authenticated'],
      namespace: k.namespace,
      account: k.serviceaccount.name,
      accountUid: k.serviceaccount.uid,
    };
  } catch {
    return undefined;
  }
}
