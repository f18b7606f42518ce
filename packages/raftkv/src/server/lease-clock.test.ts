import { describe, expect, it } from 'vitest';
import { LeaseClock } from './lease-clock.js';

describe('LeaseClock (leader-side lease expiry)', () => {
  it('expires a lease after its TTL unless kept alive, and proposes each revoke once', () => {
    const c = new LeaseClock();
    c.granted(7, 2, 1_000);
    expect(c.remaining(7, 1_000)).toBe(2);
    expect(c.expired(2_999, 5_000)).toEqual([]);
    expect(c.keepAlive(7, 2_500)).toBe(2); // deadline moves to 4,500
    expect(c.expired(4_000, 5_000)).toEqual([]);
    expect(c.expired(4_500, 5_000)).toEqual([7]);
    expect(c.expired(4_600, 5_000)).toEqual([]); // revoke in flight
    expect(c.expired(9_600, 5_000)).toEqual([7]); // lost revoke: retried
    c.revoked(7);
    expect(c.expired(20_000, 5_000)).toEqual([]);
    expect(c.keepAlive(7, 20_000)).toBeUndefined();
  });

  it('gives every lease its full TTL again when leadership moves (never expires one early)', () => {
    const c = new LeaseClock();
    c.reset([{ ID: 1, grantedTTL: 10 }, { ID: 2, grantedTTL: 1 }], 50_000);
    expect(c.remaining(1, 50_000)).toBe(10);
    expect(c.expired(50_999, 1_000)).toEqual([]);
    expect(c.expired(51_000, 1_000)).toEqual([2]);
  });
});
