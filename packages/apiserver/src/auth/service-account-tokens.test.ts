import { describe, expect, it } from 'vitest';
import { serviceAccountKeyPair } from '@flotilla/client';
import { DEFAULT_AUDIENCE, TokenIssuer, verifyServiceAccountToken } from './service-account-tokens.js';

const keys = serviceAccountKeyPair();
const other = serviceAccountKeyPair();
const issuer = new TokenIssuer(keys.privateKeyPem);
const now = Date.parse('2026-11-29T10:00:00Z');
const sa = { namespace: 'team', name: 'robot', uid: 'u-1' };
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('service-account tokens', () => {
  it('verify as the account, with the service-account groups', () => {
    const { token, expires } = issuer.issue(sa, { expirationSeconds: 3600, now });
    expect(expires).toBe(now + 3600_000);
    expect(verifyServiceAccountToken(token, keys.publicKeyPem, now + 1000)).toEqual({
      name: 'system:serviceaccount:team:robot',
      uid: 'u-1',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:team', 'system:authenticated'],
      namespace: 'team',
      account: 'robot',
      accountUid: 'u-1',
    });
  });

  it('are refused once expired, when signed by another key, tampered with, or for another audience', () => {
    const { token } = issuer.issue(sa, { expirationSeconds: 600, now });
    expect(verifyServiceAccountToken(token, keys.publicKeyPem, now + 600_000)).toBeUndefined();
    expect(verifyServiceAccountToken(token, other.publicKeyPem, now)).toBeUndefined();
    const [h, body, sig] = token.split('.');
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
    expect(verifyServiceAccountToken(`${h}.${b64({ ...claims, sub: 'system:serviceaccount:kube-system:admin' })}.${sig}`, keys.publicKeyPem, now)).toBeUndefined();
    const forOthers = issuer.issue(sa, { expirationSeconds: 600, now, audiences: ['vault'] }).token;
    expect(verifyServiceAccountToken(forOthers, keys.publicKeyPem, now)).toBeUndefined();
    expect(verifyServiceAccountToken(forOthers, keys.publicKeyPem, now, 'vault')).toMatchObject({ account: 'robot' });
    expect(verifyServiceAccountToken(token, keys.publicKeyPem, now, DEFAULT_AUDIENCE)).toMatchObject({ account: 'robot' });
  });

  it('never accept an unsigned ("alg: none") token or garbage', () => {
    const { token } = issuer.issue(sa, { expirationSeconds: 600, now });
    const [, body] = token.split('.');
    expect(verifyServiceAccountToken(`${b64({ alg: 'none', typ: 'JWT' })}.${body}.`, keys.publicKeyPem, now)).toBeUndefined();
    for (const junk of ['', 'a.b', 'a.b.c', '....', `${b64({ alg: 'RS256' })}.!!!.###`]) {
      expect(verifyServiceAccountToken(junk, keys.publicKeyPem, now)).toBeUndefined();
    }
  });
});
