/**
 * The elector's requests against an in-memory Lease with resourceVersion preconditions (the
 * real API server's behaviour is covered in test/client): a leader renews with one conditional
 * write per period, reads the Lease only after a conflict, and steps down when that read shows
 * another holder.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError, type KubeObject } from '@flotilla/api';
import { LeaderElector } from './leader-election.js';
import type { KubeClient } from './rest.js';

class LeaseServer {
  lease: KubeObject | undefined;
  private rv = 0;
  readonly calls = { get: 0, create: 0, update: 0 };

  readonly client = {
    get: async () => {
      this.calls.get++;
      if (!this.lease) throw new ApiError(404, 'NotFound', 'leases "x" not found');
      return structuredClone(this.lease);
    },
    create: async (_r: unknown, obj: KubeObject) => {
      this.calls.create++;
      if (this.lease) throw new ApiError(409, 'AlreadyExists', 'leases "x" already exists');
      return this.store(obj);
    },
    update: async (_r: unknown, obj: KubeObject) => {
      this.calls.update++;
      if (obj.metadata.resourceVersion !== this.lease?.metadata.resourceVersion) throw new ApiError(409, 'Conflict', 'the object has been modified');
      return this.store(obj);
    },
  } as unknown as KubeClient;

  /** Another party's write (a new holder), as the API server would take it. */
  takeOver(holder: string): void {
    this.store({ ...this.lease!, spec: { ...(this.lease!.spec as object), holderIdentity: holder } });
  }

  private store(obj: KubeObject): KubeObject {
    this.lease = structuredClone({ ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } });
    return structuredClone(this.lease);
  }
}

async function until(what: string, f: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

let elector: LeaderElector | undefined;
afterEach(async () => {
  await elector?.stop();
  elector = undefined;
});

describe('LeaderElector', () => {
  it('renews with one conditional write per period, reads only after a conflict, and steps down for a new holder', async () => {
    const server = new LeaseServer();
    let leading = false;
    let stoppedLeading = 0;
    elector = new LeaderElector({
      client: server.client, namespace: 'kube-system', name: 'x', identity: 'me',
      leaseDurationMs: 400, renewDeadlineMs: 300, retryPeriodMs: 20,
      onStartedLeading: () => { leading = true; },
      onStoppedLeading: () => { leading = false; stoppedLeading++; },
    });
    elector.start();
    await until('leading', () => leading);
    const gets = server.calls.get;
    const updates = server.calls.update;
    await until('ten renewals', () => server.calls.update >= updates + 10);
    expect(server.calls.get).toBe(gets); // renewals write the held copy; they do not read first
    expect(leading).toBe(true);

    server.takeOver('someone-else');
    await until('stepped down', () => !leading);
    expect(stoppedLeading).toBe(1);
    expect(server.calls.get).toBeGreaterThan(gets); // the conflict was followed by a read
    expect((server.lease?.spec as { holderIdentity: string }).holderIdentity).toBe('someone-else');
  });
});
