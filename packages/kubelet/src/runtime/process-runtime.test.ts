import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProcessRuntime } from './process-runtime.js';
import { describeRuntime } from './runtime.compliance.js';
import { readAll, RuntimeError, type ContainerSpec } from './runtime.js';

describeRuntime('process', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'flotilla-process-runtime-'));
  const runtime = new ProcessRuntime(root);
  return {
    runtime,
    again: () => new ProcessRuntime(root),
    cleanup: async () => {
      // Kill whatever a failed test left running, by the PIDs this root recorded, then delete it.
      for (const r of await runtime.list()) if (r.status.state === 'running') await runtime.stop(r.id, 0);
      await rm(root, { recursive: true, force: true });
    },
  };
});

describe('process runtime specifics', () => {
  it('needs a command: an image alone names no program here', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'flotilla-process-runtime-'));
    try {
      const err = await new ProcessRuntime(root).start({ podUid: 'u', podNamespace: 'n', podName: 'p', name: 'c', image: 'nginx', attempt: 0 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RuntimeError);
      expect((err as RuntimeError).reason).toBe('CreateContainerError');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

const spec = (name: string, command: string[], extra: Partial<ContainerSpec> = {}): ContainerSpec => ({
  podUid: '0123456789abcdef', podNamespace: 'default', podName: 'p', name, image: 'busybox', command, attempt: 0, ...extra,
});

async function exitOf(rt: ProcessRuntime, id: string): Promise<void> {
  for (let i = 0; i < 1_000; i++) {
    if ((await rt.inspect(id))?.status.state === 'exited') return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('container did not exit');
}

describe('process runtime logs', () => {
  const chatty = ['/bin/sh', '-c', 'i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo "line $i"; if [ $((i % 50)) -eq 0 ]; then sleep 0.1; fi; done'];
  const numbered = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}`);

  it('rotates a chatty container\'s log by size and keeps the newest files, in order', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'flotilla-process-runtime-'));
    const rt = new ProcessRuntime(root, { logRotation: { maxBytes: 4_096, maxFiles: 3 } });
    try {
      // 400 numbered lines of ~60 bytes of record each: about 24 KiB, so several rotations.
      const rec = await rt.start(spec('chatty', chatty));
      await exitOf(rt, rec.id);
      const files = (await readdir(path.join(root, 'containers', rec.id))).filter((f) => /^log(\.\d+)?$/.test(f)).sort();
      expect(files).toEqual(['log', 'log.1', 'log.2']);
      const kept = (await readAll(await rt.logs(rec.id))).toString().trimEnd().split('\n');
      expect(kept.length).toBeLessThan(400);
      const first = Number(kept[0].split(' ')[1]);
      expect(kept).toEqual(numbered(first, 400));
      expect((await readAll(await rt.logs(rec.id, { tailLines: 3 }))).toString()).toBe('line 398\nline 399\nline 400\n');
    } finally {
      for (const r of await rt.list()) if (r.status.state === 'running') await rt.stop(r.id, 0);
      await rm(root, { recursive: true, force: true });
    }
  });

  it('follows a log across its rotations without a gap or a repeat', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'flotilla-process-runtime-'));
    // Small files, but enough of them that none is deleted before the follower has read it.
    const rt = new ProcessRuntime(root, { logRotation: { maxBytes: 2_048, maxFiles: 30 } });
    try {
      const rec = await rt.start(spec('chatty', chatty));
      const followed = (await readAll(await rt.logs(rec.id, { follow: true }))).toString().trimEnd().split('\n');
      expect(followed).toEqual(numbered(1, 400));
      expect((await readdir(path.join(root, 'containers', rec.id))).filter((f) => f.startsWith('log.')).length).toBeGreaterThan(5);
    } finally {
      for (const r of await rt.list()) if (r.status.state === 'running') await rt.stop(r.id, 0);
      await rm(root, { recursive: true, force: true });
    }
  });

  it('keeps an unterminated last line as it was written', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'flotilla-process-runtime-'));
    const rt = new ProcessRuntime(root);
    try {
      const rec = await rt.start(spec('partial', ['/bin/sh', '-c', 'echo full; printf "no newline"']));
      await exitOf(rt, rec.id);
      expect((await readAll(await rt.logs(rec.id))).toString()).toBe('full\nno newline');
      expect((await readAll(await rt.logs(rec.id, { tailLines: 1 }))).toString()).toBe('no newline');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('process runtime log collector', () => {
  it('survives its log collector: SIGKILL it, the container goes on, and a new collector takes its output up again', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'flotilla-process-runtime-'));
    const rt = new ProcessRuntime(root);
    try {
      const rec = await rt.start(spec('talker', ['/bin/sh', '-c', 'i=0; while [ $i -lt 60 ]; do i=$((i+1)); echo "n=$i"; sleep 0.05; done']));
      const collector = Number((await readFile(path.join(root, 'collector.pid'), 'utf8')).trim());
      await new Promise((r) => setTimeout(r, 300));
      process.kill(collector, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 500)); // output waits in the FIFO meanwhile
      expect((await rt.inspect(rec.id))?.status.state).toBe('running');
      await rt.ensureCollector();
      // The new collector answers on its socket as soon as it listens and writes its pid file
      // just after: under load a read in between still finds the old pid (a CI run did).
      const pidFile = async (): Promise<number> => Number((await readFile(path.join(root, 'collector.pid'), 'utf8')).trim());
      for (let i = 0; i < 100 && (await pidFile()) === collector; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await pidFile()).not.toBe(collector);
      const lines = (await readAll(await rt.logs(rec.id, { follow: true }))).toString().trimEnd().split('\n');
      // Nothing lost, nothing twice; lines written while no collector ran come a little late, that is all.
      expect(lines).toEqual(Array.from({ length: 60 }, (_, i) => `n=${i + 1}`));
      expect((await rt.inspect(rec.id))?.status).toMatchObject({ state: 'exited', exitCode: 0 });
    } finally {
      for (const r of await rt.list()) if (r.status.state === 'running') await rt.stop(r.id, 0);
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('process runtime collector stop', () => {
  it('signals only its own collector: a pid file naming another process is waited out, never acted on', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'flotilla-process-runtime-'));
    const rt = new ProcessRuntime(root);
    // Stands for an unrelated process that got a dead collector's pid.
    const bystander = spawn('sleep', ['30'], { stdio: 'ignore' });
    const running = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    let collector = 0;
    try {
      await rt.ensureCollector();
      const pidFile = path.join(root, 'collector.pid');
      for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 20));
      collector = Number((await readFile(pidFile, 'utf8')).trim());
      expect(running(collector)).toBe(true);
      await writeFile(pidFile, String(bystander.pid));
      let stopped = false;
      const stopping = rt.stopCollector().then(() => { stopped = true; });
      await new Promise((r) => setTimeout(r, 300));
      expect(running(bystander.pid!)).toBe(true);
      expect(stopped).toBe(false); // the collector still answers: it waits for the file to name it
      await writeFile(pidFile, String(collector));
      await stopping;
      for (let i = 0; i < 100 && running(collector); i++) await new Promise((r) => setTimeout(r, 20));
      expect(running(collector)).toBe(false);
      expect(running(bystander.pid!)).toBe(true);
    } finally {
      bystander.kill('SIGKILL');
      if (collector > 0 && running(collector)) process.kill(collector, 'SIGKILL');
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('process runtime limits', () => {
  it('puts a container with limits in its own cgroups, with the CPU quota Kubernetes uses, and removes them with it', async (ctx) => {
    const root = await mkdtemp(path.join(tmpdir(), 'flotilla-process-runtime-'));
    const rt = new ProcessRuntime(root);
    try {
      if (!rt.enforcesLimits) {
        if (process.env.CI === 'true') throw new Error('cgroups are not writable here, and CI may not skip');
        ctx.skip();
      }
      const rec = await rt.start(spec('limited', ['/bin/sh', '-c', 'cat /proc/self/cgroup; sleep 30'], { limits: { memoryBytes: 64 * 1024 * 1024, cpuMillis: 250 } }));
      const meta = JSON.parse(await readFile(path.join(root, 'containers', rec.id, 'meta.json'), 'utf8')) as { cgroups: { dirs: string[] } };
      expect(meta.cgroups.dirs.length).toBeGreaterThan(0);
      for (const dir of meta.cgroups.dirs) {
        const procs = (await readFile(path.join(dir, 'cgroup.procs'), 'utf8')).trim().split('\n');
        expect(procs.length).toBeGreaterThan(0); // the container's shell, and its sleep
      }
      const quota = meta.cgroups.dirs.map((d) => [path.join(d, 'cpu.cfs_quota_us'), path.join(d, 'cpu.max')]).flat().find((f) => existsSync(f));
      expect(quota).toBeDefined();
      expect((await readFile(quota as string, 'utf8')).trim()).toMatch(/^25000( 100000)?$/);
      await rt.remove(rec.id);
      for (const dir of meta.cgroups.dirs) expect(existsSync(dir)).toBe(false);
    } finally {
      for (const r of await rt.list()) if (r.status.state === 'running') await rt.stop(r.id, 0);
      await rm(root, { recursive: true, force: true });
    }
  });
});
