/**
 * Mutual, replay-resistant authentication of a peer connection with the shared cluster secret.
 *
 *   acceptor → dialer   HELLO   { version, challengeA (32 random bytes) }
 *   dialer → acceptor   AUTH    { from, to, HMAC(secret, 'raftkv-peer|' + from + '|' + to + '|' + hex(challengeA)), challengeD }
 *   acceptor → dialer   AUTH_OK { HMAC(secret, 'raftkv-peer-ack|' + hex(challengeD)) }
 *
 * The acceptor proves it knows the secret before the dialer sends anything else, and the dialer
 * proves it before the acceptor delivers anything. Fresh challenges on both sides make a recorded
 * handshake useless. Binding `to` stops a dialer's proof for one member being replayed to
 * another. Only authentication: frames after the handshake are neither encrypted nor MACed, so a
 * network that can rewrite TCP streams needs TLS (or a VPN) underneath.
 *
 * Everything here is pure: the connection code (outbound.ts, inbound.ts) does the I/O.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NodeId } from '../raft/types.js';
import { FrameKind, PROTOCOL_VERSION, encode } from './protocol.js';

export const CHALLENGE_BYTES = 32;
/** Both sides give up on a connection that has not authenticated within this time. */
export const HANDSHAKE_TIMEOUT_MS = 5_000;

export function newChallenge(): Uint8Array {
  return new Uint8Array(randomBytes(CHALLENGE_BYTES));
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function dialerMac(secret: string, from: NodeId, to: NodeId, acceptorChallenge: Uint8Array): Uint8Array {
  return createHmac('sha256', secret).update(`raftkv-peer|${from}|${to}|${hex(acceptorChallenge)}`).digest();
}

export function ackMac(secret: string, dialerChallenge: Uint8Array): Uint8Array {
  return createHmac('sha256', secret).update(`raftkv-peer-ack|${hex(dialerChallenge)}`).digest();
}

/** Constant-time comparison of a received MAC with the expected one. */
export function macEquals(expected: Uint8Array, got: unknown): boolean {
  return got instanceof Uint8Array && got.byteLength === expected.byteLength && timingSafeEqual(expected, got);
}

function isId(v: unknown): v is NodeId {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

function isChallenge(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array && v.byteLength === CHALLENGE_BYTES;
}

export function helloFrame(challenge: Uint8Array): Buffer {
  return encode([FrameKind.HELLO, PROTOCOL_VERSION, challenge]);
}

export function authFrame(from: NodeId, to: NodeId, mac: Uint8Array, challenge: Uint8Array): Buffer {
  return encode([FrameKind.AUTH, from, to, mac, challenge]);
}

export function authOkFrame(mac: Uint8Array): Buffer {
  return encode([FrameKind.AUTH_OK, mac]);
}

export type HandshakeResult<T> = { ok: true; value: T } | { ok: false; reason: string; fields?: Record<string, unknown> };

/** Dialer: reads HELLO, returns the acceptor's challenge. */
export function parseHello(f: readonly unknown[]): HandshakeResult<Uint8Array> {
  if (f[0] !== FrameKind.HELLO) return { ok: false, reason: 'expected HELLO' };
  if (f[1] !== PROTOCOL_VERSION) return { ok: false, reason: 'unsupported protocol version', fields: { version: f[1] } };
  if (!isChallenge(f[2])) return { ok: false, reason: 'malformed challenge' };
  return { ok: true, value: f[2] };
}

/**
 * Acceptor: checks AUTH against the challenge it sent. On success returns the dialer's id and
 * the AUTH_OK payload to send back.
 */
export function checkAuth(
  f: readonly unknown[],
  secret: string,
  self: NodeId,
  challenge: Uint8Array,
): HandshakeResult<{ peer: NodeId; reply: Buffer }> {
  if (f[0] !== FrameKind.AUTH) return { ok: false, reason: 'expected AUTH' };
  const [, from, to, mac, dialerChallenge] = f;
  if (!isId(from) || !isId(to) || !isChallenge(dialerChallenge)) return { ok: false, reason: 'malformed AUTH' };
  if (to !== self) return { ok: false, reason: 'peer addressed another member', fields: { peer: from, claimedTo: to } };
  if (from === self) return { ok: false, reason: 'peer claims our own id', fields: { peer: from } };
  if (!macEquals(dialerMac(secret, from, to, challenge), mac)) {
    return { ok: false, reason: 'peer failed authentication (wrong cluster secret?)', fields: { peer: from } };
  }
  return { ok: true, value: { peer: from, reply: authOkFrame(ackMac(secret, dialerChallenge)) } };
}

/** Dialer: checks AUTH_OK against the challenge it sent. */
export function checkAuthOk(f: readonly unknown[], secret: string, dialerChallenge: Uint8Array): HandshakeResult<true> {
  if (f[0] !== FrameKind.AUTH_OK) return { ok: false, reason: 'expected AUTH_OK' };
  if (!macEquals(ackMac(secret, dialerChallenge), f[1])) {
    return { ok: false, reason: 'peer failed to prove the cluster secret (wrong secret?)' };
  }
  return { ok: true, value: true };
}
