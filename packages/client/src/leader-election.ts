/**
 * Leader election over a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
 * the holder renews the Lease every retry period; a candidate takes it over only once it has
 * seen the same record unchanged for a whole lease duration, measured on its *own* clock (so
 * clocks of different machines never need to agree). Every write is conditional on the Lease's
 * resourceVersion, so two candidates can never both believe they won. A leader that cannot
 * renew within the renew deadline stops leading before anyone else may start.
 */
import { isAlreadyExists, isConflict, isNotFound, type KubeObject } from '@flotilla/api';
import { resources, type KubeClient } from './rest.js';

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  /** The Lease's name, e.g. "kube-scheduler". */
  name: string;
  /** This candidate, unique among them (hostname + random suffix, say). */
  identity: string;
  /** How long a silent holder keeps the Lease, ms. Default 1000 (Kubernetes: 15 s). */
  leaseDurationMs?: number;
  /** A leader that has not renewed for this long steps down, ms (< leaseDurationMs). Default 750. */
  renewDeadlineMs?: number;
  /** How often to renew or retry, ms. Default 200. */
  retryPeriodMs?: number;
  /** Called with a signal that aborts when leadership is lost. */
  onStartedLeading: (signal: AbortSignal) => void;
  onStoppedLeading?: () => void;
  onNewLeader?: (identity: string) => void;
  now?: () => number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

type Lease = KubeObject & { spec?: LeaseSpec };

/** Lease times are RFC 3339 with microseconds (MicroTime). */
const microTime = (ms: number): string => new Date(ms).toISOString().replace('Z', '000Z');

export class LeaderElector {
  private readonly o: Required<Omit<LeaderElectionOptions, 'onStoppedLeading' | 'onNewLeader'>> & Pick<LeaderElectionOptions, 'onStoppedLeading' | 'onNewLeader'>;
  private observed: { spec: string; at: number } | undefined;
  /**
   * The Lease as this leader last wrote it. A leader renews by writing it again, conditional on
   * that resourceVersion: one request per renewal instead of a read and a write, as client-go's
   * optimistic renew does, so a loaded API server less often makes it miss the renew deadline.
   * A conflict means someone else wrote the Lease: the next round reads it and decides.
   */
  private held: Lease | undefined;
  private lastRenew = 0;
  private leading: AbortController | undefined;
  private lastLeader = '';
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;

  constructor(opts: LeaderElectionOptions) {
    this.o = { leaseDurationMs: 1000, renewDeadlineMs: 750, retryPeriodMs: 200, now: Date.now, ...opts };
    if (!(this.o.renewDeadlineMs < this.o.leaseDurationMs)) throw new Error('leader election: renewDeadlineMs must be below leaseDurationMs');
    if (!(this.o.retryPeriodMs < this.o.renewDeadlineMs)) throw new Error('leader election: retryPeriodMs must be below renewDeadlineMs');
  }

  get isLeader(): boolean {
    return this.leading !== undefined;
  }

  start(): void {
    this.running ??= this.tick();
  }

  /** Stops campaigning; a leader releases the Lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.(); // end the pause between rounds now rather than after it
    await this.running;
    if (this.leading) {
      await this.release().catch(() => undefined);
      this.stepDown();
    }
  }

  /** One round per retry period until stopped (a loop: a recursive chain would grow forever). */
  private async tick(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.tryAcquireOrRenew();
      } catch {
        // Storage or network trouble: retried next period; the renew deadline covers a leader.
      }
      if (this.leading && this.o.now() - this.lastRenew > this.o.renewDeadlineMs) this.stepDown();
      if (this.stopped) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.timer = setTimeout(resolve, this.o.retryPeriodMs);
      });
    }
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const { client, namespace, name, identity } = this.o;
    const now = this.o.now();
    if (this.leading && this.held) {
      const held = this.held;
      try {
        this.wrote(await client.update<Lease>(resources.leases, { ...held, spec: { ...held.spec, renewTime: microTime(now) } }), now);
        return;
      } catch (err) {
        this.held = undefined;
        if (!isConflict(err)) throw err;
        // Written by someone else since: read it below.
      }
    }
    let lease: Lease;
    try {
      lease = await client.get<Lease>(resources.leases, name, namespace);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const fresh: Lease = {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace },
        spec: { holderIdentity: identity, leaseDurationSeconds: Math.max(1, Math.ceil(this.o.leaseDurationMs / 1000)), acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
      };
      try {
        this.wrote(await client.create<Lease>(resources.leases, fresh, namespace), now);
      } catch (e) {
        if (!isAlreadyExists(e)) throw e; // another candidate created it first
      }
      return;
    }
    const spec = lease.spec ?? {};
    const seen = JSON.stringify(spec);
    if (this.observed?.spec !== seen) this.observed = { spec: seen, at: now };
    const holder = spec.holderIdentity ?? '';
    if (holder !== this.lastLeader) {
      this.lastLeader = holder;
      if (holder) this.o.onNewLeader?.(holder);
    }
    const expired = holder === '' || now - this.observed.at > this.o.leaseDurationMs;
    if (holder !== identity && !expired) {
      if (this.leading) this.stepDown(); // someone else holds it: we lost it
      return;
    }
    const next: Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: Math.max(1, Math.ceil(this.o.leaseDurationMs / 1000)),
        renewTime: microTime(now),
        ...(holder !== identity ? { acquireTime: microTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
      },
    };
    try {
      this.wrote(await client.update<Lease>(resources.leases, next), now);
    } catch (err) {
      if (!isConflict(err)) throw err; // another candidate wrote first: it leads
    }
  }

  /** Our write of the Lease at `now` succeeded: we hold it. */
  private wrote(written: Lease, now: number): void {
    this.observed = { spec: JSON.stringify(written.spec ?? {}), at: now };
    this.held = written;
    this.won(now);
  }

  private won(now: number): void {
    this.lastRenew = now;
    if (this.lastLeader !== this.o.identity) {
      this.lastLeader = this.o.identity;
      this.o.onNewLeader?.(this.o.identity);
    }
    if (!this.leading) {
      this.leading = new AbortController();
      this.o.onStartedLeading(this.leading.signal);
    }
  }

  private stepDown(): void {
    this.held = undefined;
    if (!this.leading) return;
    this.leading.abort();
    this.leading = undefined;
    this.o.onStoppedLeading?.();
  }

  /** Empties the holder so that standbys need not wait out the lease. */
  private async release(): Promise<void> {
    const lease = await this.o.client.get<Lease>(resources.leases, this.o.name, this.o.namespace);
    if (lease.spec?.holderIdentity !== this.o.identity) return;
    await this.o.client.update<Lease>(resources.leases, { ...lease, spec: { ...lease.spec, holderIdentity: '', renewTime: microTime(this.o.now()) } });
  }
}
