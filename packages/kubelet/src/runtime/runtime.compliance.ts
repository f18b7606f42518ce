/**
 * The contract of runtime.ts as tests, run against every runtime (process now, docker next):
 * `describeRuntime(name, make)` where make() gives a fresh runtime on a fresh root, and
 * `again(runtime)` a second runtime on the same root (a restarted kubelet).
 */
import { describe, expect, it } from 'vitest';
import { RuntimeError, type ContainerRuntime, type ContainerSpec } from './runtime.js';

export interface RuntimeFixture {
  runtime: ContainerRuntime;
  /** Another runtime on the same state, as a kubelet restarted on the same node would have. */
  again(): ContainerRuntime;
  cleanup(): Promise<void>;
}

const spec = (name: string, command: string[], extra: Partial<ContainerSpec> = {}): ContainerSpec => ({
  podUid: '0123456789abcdef', podNamespace: 'default', podName: 'p', name, image: 'busybox', command, attempt: 0, ...extra,
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  for (const end = Date.now() + ms; ; ) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function describeRuntime(name: string, make: () => Promise<RuntimeFixture>): void {
  describe(`container runtime compliance: ${name}`, () => {
    it('runs a command with its args, env and working dir, keeps its output, and records a clean exit', async () => {
      const f = await make();
      try {
        const rec = await f.runtime.start(spec('hello', ['/bin/sh', '-c'], { args: ['echo "$GREETING from $(pwd)"; echo line2'], env: { GREETING: 'hi' }, workingDir: '/tmp' }));
        const done = await until('exit', async () => {
          const r = await f.runtime.inspect(rec.id);
          return r?.status.state === 'exited' ? r.status : undefined;
        });
        expect(done).toMatchObject({ exitCode: 0, reason: 'Completed' });
        expect((await f.runtime.logs(rec.id)).toString()).toBe('hi from /tmp\nline2\n');
        expect((await f.runtime.logs(rec.id, { tailLines: 1 })).toString()).toBe('line2\n');
      } finally {
        await f.cleanup();
      }
    });

    it('reports a failing exit code as an Error', async () => {
      const f = await make();
      try {
        const rec = await f.runtime.start(spec('fail', ['/bin/sh', '-c', 'exit 3']));
        const done = await until('exit', async () => {
          const r = await f.runtime.inspect(rec.id);
          return r?.status.state === 'exited' ? r.status : undefined;
        });
        expect(done).toMatchObject({ exitCode: 3, reason: 'Error' });
      } finally {
        await f.cleanup();
      }
    });

    it('stops gracefully with the stop signal, and kills what ignores it after the grace period', async () => {
      const f = await make();
      try {
        const polite = await f.runtime.start(spec('polite', ['/bin/sh', '-c', 'trap "echo bye; exit 0" TERM; while true; do sleep 0.05; done']));
        const stubborn = await f.runtime.start(spec('stubborn', ['/bin/sh', '-c', 'trap "" TERM; while true; do sleep 0.05; done']));
        expect((await f.runtime.inspect(polite.id))?.status.state).toBe('running');
        await new Promise((r) => setTimeout(r, 200)); // let the shells install their traps
        await f.runtime.stop(polite.id, 5_000);
        expect((await f.runtime.inspect(polite.id))?.status).toMatchObject({ state: 'exited', exitCode: 0 });
        expect((await f.runtime.logs(polite.id)).toString()).toContain('bye');
        await f.runtime.stop(stubborn.id, 300);
        expect((await f.runtime.inspect(stubborn.id))?.status).toMatchObject({ state: 'exited', exitCode: 137, signal: 'SIGKILL' });
      } finally {
        await f.cleanup();
      }
    });

    it('lets a restarted kubelet find, stop and remove what the previous one started', async () => {
      const f = await make();
      try {
        const rec = await f.runtime.start(spec('long', ['/bin/sh', '-c', 'while true; do sleep 0.05; done'], { attempt: 2 }));
        const second = f.again();
        const found = await second.list();
        expect(found.map((r) => [r.id, r.spec.name, r.spec.attempt, r.status.state])).toEqual([[rec.id, 'long', 2, 'running']]);
        await second.stop(rec.id, 1_000);
        expect((await second.inspect(rec.id))?.status.state).toBe('exited');
        await second.remove(rec.id);
        expect(await second.list()).toEqual([]);
      } finally {
        await f.cleanup();
      }
    });

    it('refuses what it cannot run with the reason Kubernetes reports', async () => {
      const f = await make();
      try {
        const missing = await f.runtime.start(spec('missing', ['/nonexistent/program'])).catch((e: unknown) => e);
        expect(missing).toBeInstanceOf(RuntimeError);
        expect((missing as RuntimeError).reason).toBe('RunContainerError');
      } finally {
        await f.cleanup();
      }
    });
  });
}
