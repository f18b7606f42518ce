import { describe, expect, it } from 'vitest';
import type { KubeObject } from '@flotilla/api';
import type { KubeClient, ResourceRef } from '@flotilla/client';
import { EventRecorder } from './recorder.js';

/** A client whose creates wait until the test lets them finish. */
function holdingClient(): { client: KubeClient; created: KubeObject[]; open: number; release: (n?: number) => void; maxOpen: number } {
  const waiting: (() => void)[] = [];
  const state = {
    created: [] as KubeObject[],
    open: 0,
    maxOpen: 0,
    release: (n = Infinity): void => {
      for (const finish of waiting.splice(0, n)) finish();
    },
    client: {
      create: (_r: ResourceRef, obj: KubeObject): Promise<KubeObject> => {
        state.open++;
        state.maxOpen = Math.max(state.maxOpen, state.open);
        return new Promise((resolve) => waiting.push(() => {
          state.open--;
          state.created.push(obj);
          resolve(obj);
        }));
      },
    } as unknown as KubeClient,
  };
  return state;
}

const pod = (name: string): KubeObject => ({ metadata: { name, namespace: 'ns', uid: `uid-${name}` } });
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('EventRecorder', () => {
  it('sends events in order with at most `concurrency` requests open, and flush waits for all of them', async () => {
    const c = holdingClient();
    const rec = new EventRecorder({ client: c.client, component: 'default-scheduler', concurrency: 2 });
    for (let i = 0; i < 5; i++) rec.record(pod(`p${i}`), 'Normal', 'Scheduled', `assigned p${i}`);
    expect(c.open).toBe(2);
    let flushed = false;
    const f = rec.flush().then(() => (flushed = true));
    for (let i = 0; i < 5 && !flushed; i++) {
      c.release(1);
      await tick();
    }
    await f;
    expect(c.maxOpen).toBe(2);
    expect(c.created.map((e) => (e.involvedObject as { name: string }).name)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
    expect(c.created[0]).toMatchObject({ reason: 'Scheduled', type: 'Normal', message: 'assigned p0', source: { component: 'default-scheduler' }, involvedObject: { kind: 'Pod', uid: 'uid-p0' } });
    expect(rec.pending).toBe(0);
  });

  it('drops and counts events beyond maxQueued instead of growing without bound', async () => {
    const c = holdingClient();
    const drops: number[] = [];
    const rec = new EventRecorder({ client: c.client, component: 's', concurrency: 1, maxQueued: 3, onDrop: (n) => drops.push(n) });
    for (let i = 0; i < 6; i++) rec.record(pod(`p${i}`), 'Warning', 'FailedScheduling', 'no');
    expect(rec.dropped).toBe(2); // one sending, three queued
    expect(drops).toEqual([1, 2]);
    const f = rec.flush();
    for (let i = 0; i < 4; i++) {
      c.release();
      await tick();
    }
    await f;
    expect(c.created).toHaveLength(4);
  });

  it('keeps going after a failed send, reporting it', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const client = { create: () => (++calls === 1 ? Promise.reject(new Error('boom')) : Promise.resolve({})) } as unknown as KubeClient;
    const rec = new EventRecorder({ client, component: 's', onError: (e) => errors.push(e) });
    rec.record(pod('a'), 'Normal', 'Scheduled', 'x');
    rec.record(pod('b'), 'Normal', 'Scheduled', 'y');
    await rec.flush();
    expect(calls).toBe(2);
    expect(errors).toHaveLength(1);
  });
});

describe('EventRecorder.close', () => {
  it('waits a bounded time for queued events, then drops what is left and takes no more', async () => {
    const c = holdingClient();
    const rec = new EventRecorder({ client: c.client, component: 's', concurrency: 1 });
    for (let i = 0; i < 3; i++) rec.record(pod(`p${i}`), 'Normal', 'Scheduled', 'x');
    const t0 = Date.now();
    await rec.close(50); // the API never answers
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(rec.dropped).toBe(2); // one was sent (still open), two never were
    rec.record(pod('late'), 'Normal', 'Scheduled', 'x');
    expect(rec.dropped).toBe(3);
    c.release();
    await tick();
    expect(c.created).toHaveLength(1);
  });
});
