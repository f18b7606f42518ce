/**
 * When leases expire. Only the leader keeps the clock: remaining TTL is in its memory and never
 * in the log, so keep-alives cost no disk write. Expiry itself goes through the log (the leader
 * proposes a revoke), so every replica deletes the same keys at the same revision. A new leader
 * gives every lease its full TTL again, as etcd does: a lease can outlive its TTL by up to one
 * TTL across a leader change, but never expires early.
 *
 * Pure: the caller passes `now` (milliseconds).
 */
export class LeaseClock {
  private readonly deadlines = new Map<number, { deadline: number; ttl: number }>();
  /** Revokes proposed but not yet applied, so one lease is not revoked twice. */
  private readonly revoking = new Map<number, number>();

  /** Called on becoming leader with every lease in the store. */
  reset(leases: readonly { ID: number; grantedTTL: number }[], now: number): void {
    this.deadlines.clear();
    this.revoking.clear();
    for (const l of leases) this.deadlines.set(l.ID, { deadline: now + l.grantedTTL * 1000, ttl: l.grantedTTL });
  }

  clear(): void {
    this.deadlines.clear();
    this.revoking.clear();
  }

  granted(id: number, ttl: number, now: number): void {
    this.deadlines.set(id, { deadline: now + ttl * 1000, ttl });
  }

  revoked(id: number): void {
    this.deadlines.delete(id);
    this.revoking.delete(id);
  }

  /** Returns the new remaining TTL in seconds, or undefined if the lease is unknown. */
  keepAlive(id: number, now: number): number | undefined {
    const d = this.deadlines.get(id);
    if (!d) return undefined;
    d.deadline = now + d.ttl * 1000;
    this.revoking.delete(id);
    return d.ttl;
  }

  remaining(id: number, now: number): number | undefined {
    const d = this.deadlines.get(id);
    if (!d) return undefined;
    return Math.max(0, Math.ceil((d.deadline - now) / 1000));
  }

  /** Leases past their deadline that have no revoke in flight (or whose revoke got lost). */
  expired(now: number, retryAfterMs: number): number[] {
    const out: number[] = [];
    for (const [id, d] of this.deadlines) {
      if (d.deadline > now) continue;
      const since = this.revoking.get(id);
      if (since !== undefined && now - since < retryAfterMs) continue;
      this.revoking.set(id, now);
      out.push(id);
    }
    return out;
  }
}
