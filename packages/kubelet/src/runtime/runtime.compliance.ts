/**
 * The contract of runtime.ts as tests, run against every runtime (process now, docker next):
 * `describeRuntime(name, make)` where make() gives a fresh runtime on a fresh root, and
 * `again(runtime)` a second runtime on the same root (a restarted kubelet).
 */
import { describe, expect, it } from 'vitest';
import { readAll, RuntimeError, type ContainerRuntime, type ContainerSpec, type LogOptions } from './runtime.js';

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

const text = async (rt: ContainerRuntime, id: string, opts?: LogOptions): Promise<string> => (await readAll(await rt.logs(id, opts))).toString('utf8');

const exited = (rt: ContainerRuntime, id: string): Promise<{ exitCode: number; reason: string; signal?: string }> =>
  until('exit', async () => {
    const r = await rt.inspect(id);
    return r?.status.state === 'exited' ? r.status : undefined;
  }, 20_000);

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
        expect(await text(f.runtime, rec.id)).toBe('hi from /tmp\nline2\n');
        expect(await text(f.runtime, rec.id, { tailLines: 1 })).toBe('line2\n');
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
        expect(await text(f.runtime, polite.id)).toContain('bye');
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

    it('keeps stdout and stderr with the time of each line: timestamps, sinceTime, limitBytes', async () => {
      const f = await make();
      try {
        // stdout and stderr reach Docker (as any CRI runtime) through two pipes read apart, so lines
        // on the two streams are ordered only when written further apart than a scheduling delay.
        const rec = await f.runtime.start(spec('ts', ['/bin/sh', '-c', 'echo one; sleep 0.1; echo two >&2; sleep 1.2; echo three']));
        await exited(f.runtime, rec.id);
        expect(await text(f.runtime, rec.id)).toBe('one\ntwo\nthree\n');
        const stamped = (await text(f.runtime, rec.id, { timestamps: true })).trimEnd().split('\n');
        expect(stamped).toHaveLength(3);
        const times = stamped.map((l) => {
          const [ts, ...rest] = l.split(' ');
          expect(ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
          return { ts: new Date(ts), line: rest.join(' ') };
        });
        expect(times.map((t) => t.line)).toEqual(['one', 'two', 'three']);
        // The third line came a second after the others: a sinceTime between them selects it alone.
        const between = new Date(times[1].ts.getTime() + 500);
        expect(await text(f.runtime, rec.id, { sinceTime: between })).toBe('three\n');
        expect(await text(f.runtime, rec.id, { limitBytes: 6 })).toBe('one\ntw');
      } finally {
        await f.cleanup();
      }
    });

    it('follows a running container\'s output until it exits, or until the reader aborts', async () => {
      const f = await make();
      try {
        const rec = await f.runtime.start(spec('count', ['/bin/sh', '-c', 'for i in 1 2 3 4 5; do echo "n=$i"; sleep 0.2; done']));
        // Follow from the start: every line arrives, and the stream ends by itself when the container exits.
        expect(await text(f.runtime, rec.id, { follow: true })).toBe('n=1\nn=2\nn=3\nn=4\nn=5\n');
        const forever = await f.runtime.start(spec('forever', ['/bin/sh', '-c', 'while true; do echo tick; sleep 0.1; done']));
        const ac = new AbortController();
        const stream = await f.runtime.logs(forever.id, { follow: true, tailLines: 0, signal: ac.signal });
        let got = '';
        for await (const chunk of stream) {
          got += String(chunk);
          if (got.split('\n').length > 3) ac.abort();
        }
        expect(got.startsWith('tick\n')).toBe(true);
      } finally {
        await f.cleanup();
      }
    });

    it('execs a command inside a running container, with its exit code, output and a timeout', async () => {
      const f = await make();
      try {
        const rec = await f.runtime.start(spec('host', ['/bin/sh', '-c', 'while true; do sleep 0.1; done'], { env: { MARK: 'inside' } }));
        const ok = await f.runtime.exec(rec.id, ['/bin/sh', '-c', 'echo "$MARK"; exit 0'], 5_000);
        expect(ok).toMatchObject({ exitCode: 0, timedOut: false });
        expect(ok.output.toString()).toBe('inside\n');
        expect((await f.runtime.exec(rec.id, ['/bin/sh', '-c', 'echo no >&2; exit 4'], 5_000))).toMatchObject({ exitCode: 4, timedOut: false });
        expect((await f.runtime.exec(rec.id, ['/bin/sh', '-c', 'sleep 30'], 300)).timedOut).toBe(true);
      } finally {
        await f.cleanup();
      }
    });

    it('enforces a memory limit where it can: a container over it is OOMKilled (exit 137)', async (ctx) => {
      const f = await make();
      try {
        if (!f.runtime.enforcesLimits) {
          if (process.env.CI === 'true') throw new Error(`${name} cannot enforce limits here, and CI may not skip`);
          ctx.skip();
        }
        const hog = await f.runtime.start(spec('hog', ['/bin/sh', '-c', 'echo start; exec tail /dev/zero'], { limits: { memoryBytes: 32 * 1024 * 1024, cpuMillis: 500 } }));
        expect(await exited(f.runtime, hog.id)).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
        expect(await text(f.runtime, hog.id)).toBe('start\n');
      } finally {
        await f.cleanup();
      }
    });

    it('tells of a container\'s exit as it happens, with its pod\'s uid', async () => {
      const f = await make();
      const seen: string[] = [];
      const stop = f.runtime.watchExits((uid) => seen.push(uid));
      try {
        await new Promise((r) => setTimeout(r, 300)); // the notices' stream is open
        const rec = await f.runtime.start(spec('brief', ['/bin/sh', '-c', 'sleep 0.3; exit 2'], { podUid: 'fedcba9876543210' }));
        await until('the exit notice', async () => (seen.includes('fedcba9876543210') ? true : undefined), 10_000);
        // Once told, the runtime reports the exit.
        expect((await f.runtime.inspect(rec.id))?.status).toMatchObject({ state: 'exited', exitCode: 2 });
      } finally {
        stop();
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
