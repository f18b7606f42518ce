/**
 * The docker runtime against a private dockerd (test/support/dockerd.ts): the runtime compliance
 * suite that the process runtime passes too, then what only Docker has: image pulls and their
 * policies, the host network, and kubelets that share one dockerd without seeing each other's
 * containers. Skips (with the reason printed) where Docker cannot run; fails instead in CI.
 *
 * Imports the kubelet's sources rather than its build: the compliance suite is not part of the
 * package's API, and RuntimeError must be the same class on both sides of `instanceof`.
 */
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { DOCKER_LABELS, DockerRuntime } from '../../packages/kubelet/src/runtime/docker-runtime.js';
import { describeRuntime, type RuntimeFixture } from '../../packages/kubelet/src/runtime/runtime.compliance.js';
import { readAll, RuntimeError, type ContainerRuntime, type ContainerSpec } from '../../packages/kubelet/src/runtime/runtime.js';
import { startDockerd, TEST_IMAGE, type PrivateDockerd } from '../support/dockerd.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait.js';

const dockerd = await startDockerd();
afterAll(async () => {
  await dockerd?.stop();
}, 60_000);

/** Inside the skipIf below, dockerd is there. */
const engine = (): PrivateDockerd => dockerd as PrivateDockerd;

let scopes = 0;
function fixture(scope = `node-${++scopes}`): RuntimeFixture {
  const runtime = new DockerRuntime({ socketPath: engine().socketPath, scope });
  return {
    runtime,
    again: () => new DockerRuntime({ socketPath: engine().socketPath, scope }),
    cleanup: async () => {
      for (const r of await runtime.list()) await runtime.remove(r.id);
    },
  };
}

const spec = (name: string, extra: Partial<ContainerSpec> = {}): ContainerSpec => ({
  podUid: 'fedcba9876543210', podNamespace: 'team-a', podName: 'web-1', name, image: TEST_IMAGE, attempt: 0, ...extra,
});

const exited = (rt: ContainerRuntime, id: string): Promise<number> =>
  waitFor('the container to exit', async () => {
    const s = (await rt.inspect(id))?.status;
    return s?.state === 'exited' ? s.exitCode : undefined;
  }, 10_000);

const logText = async (rt: ContainerRuntime, id: string): Promise<string> => (await readAll(await rt.logs(id))).toString('utf8');

const failure = (p: Promise<unknown>): Promise<RuntimeError> =>
  p.then(
    () => {
      throw new Error('expected a RuntimeError');
    },
    (err: unknown) => {
      expect(err).toBeInstanceOf(RuntimeError);
      return err as RuntimeError;
    },
  );

describe.skipIf(!dockerd)('docker runtime', () => {
  describeRuntime('docker', async () => fixture());

  describe('docker specifics', () => {
    // Only loopback registries: dockerd must never be sent to a public one (DESIGN.md, "Networking").
    const missing = '127.0.0.1:9/flotilla/missing:1';

    it('reports a pull that fails as ErrImagePull, with docker\'s message', async () => {
      const f = fixture();
      try {
        const err = await failure(f.runtime.start(spec('pull', { image: missing, command: ['true'] })));
        expect(err.reason).toBe('ErrImagePull');
        expect(err.message).toContain('127.0.0.1:9');
        expect(err.message).not.toMatch(/^\(HTTP code/);
        expect(await f.runtime.list()).toEqual([]);
      } finally {
        await f.cleanup();
      }
    });

    it('never pulls with the policy Never: a missing image is ErrImageNeverPull, a present one runs', async () => {
      const f = fixture();
      try {
        const err = await failure(f.runtime.start(spec('never', { image: missing, imagePullPolicy: 'Never', command: ['true'] })));
        expect(err.reason).toBe('ErrImageNeverPull');
        expect(err.message).toBe(`Container image "${missing}" is not present with pull policy of Never`);
        const rec = await f.runtime.start(spec('present', { imagePullPolicy: 'Never', command: ['/bin/sh', '-c', 'echo present'] }));
        expect(await exited(f.runtime, rec.id)).toBe(0);
        expect(await logText(f.runtime, rec.id)).toBe('present\n');
      } finally {
        await f.cleanup();
      }
    });

    it('gives command and args Kubernetes\' meaning over the image\'s entrypoint and cmd', async () => {
      const f = fixture();
      try {
        // The test image's cmd is `sh`: a command alone drops it, args alone replace it.
        const cmdOnly = await f.runtime.start(spec('cmd-only', { command: ['echo'] }));
        const argsOnly = await f.runtime.start(spec('args-only', { args: ['echo', 'from', 'args'] }));
        const both = await f.runtime.start(spec('both', { command: ['echo'], args: ['a', 'b'] }));
        for (const r of [cmdOnly, argsOnly, both]) expect(await exited(f.runtime, r.id)).toBe(0);
        expect(await logText(f.runtime, cmdOnly.id)).toBe('\n');
        expect(await logText(f.runtime, argsOnly.id)).toBe('from args\n');
        expect(await logText(f.runtime, both.id)).toBe('a b\n');
      } finally {
        await f.cleanup();
      }
    });

    it('runs containers in the host network: a port bound on 127.0.0.1 inside answers on the host', async () => {
      const f = fixture();
      try {
        const port = await freePort();
        const rec = await f.runtime.start(spec('web', {
          command: ['/bin/sh', '-c', `mkdir -p /tmp/www && echo pong > /tmp/www/index.html && exec httpd -f -p 127.0.0.1:${port} -h /tmp/www`],
        }));
        const body = await waitFor('the container\'s server on the host loopback', async () => {
          const res = await fetch(`http://127.0.0.1:${port}/`);
          return res.ok ? res.text() : undefined;
        }, 10_000);
        expect(body).toBe('pong\n');
        // And the other way: the container reaches a server bound on the host's loopback.
        let received = '';
        const srv = createServer((sock) =>
          sock.on('data', (c) => {
            received += String(c);
            if (received.endsWith('\n')) sock.end(); // nc may wait for our end before it exits
          }),
        );
        await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
        try {
          const hostPort = (srv.address() as AddressInfo).port;
          const sent = await f.runtime.exec(rec.id, ['/bin/sh', '-c', `echo hello-host | nc 127.0.0.1 ${hostPort}`], 5_000);
          expect(sent).toMatchObject({ exitCode: 0, timedOut: false });
          await waitFor('the host server to hear from the container', () => (received === 'hello-host\n' ? true : undefined), 5_000);
        } finally {
          srv.close();
        }
        const info = await engine().docker.getContainer(rec.id).inspect();
        expect(info.HostConfig.NetworkMode).toBe('host');
      } finally {
        await f.cleanup();
      }
    });

    it('keeps kubelets that share a dockerd apart: each sees, stops and removes only its own containers', async () => {
      const a = fixture('node-a');
      const b = fixture('node-b');
      try {
        const mine = await a.runtime.start(spec('long', { command: ['/bin/sh', '-c', 'while true; do sleep 0.1; done'] }));
        const theirs = await b.runtime.start(spec('long', { command: ['/bin/sh', '-c', 'echo b; while true; do sleep 0.1; done'] }));
        expect((await a.runtime.list()).map((r) => r.id)).toEqual([mine.id]);
        expect((await b.runtime.list()).map((r) => r.id)).toEqual([theirs.id]);
        expect(await b.runtime.inspect(mine.id)).toBeUndefined();
        expect((await failure(b.runtime.logs(mine.id))).message).toContain(mine.id);
        await failure(b.runtime.exec(mine.id, ['true'], 1_000));
        // Not b's to stop or remove: it goes on running.
        await b.runtime.stop(mine.id, 0);
        await b.runtime.remove(mine.id);
        expect((await a.runtime.inspect(mine.id))?.status.state).toBe('running');
      } finally {
        await a.cleanup();
        await b.cleanup();
      }
    });

    it('labels each container with its node, pod and container, the whole spec, and its limits', async () => {
      const f = fixture('node-labels');
      try {
        const s = spec('app', { command: ['/bin/sh', '-c', 'sleep 30'], attempt: 3, init: true, stopSignal: 'SIGINT', limits: { memoryBytes: 64 * 1024 * 1024, cpuMillis: 500 } });
        const rec = await f.runtime.start(s);
        const info = await engine().docker.getContainer(rec.id).inspect();
        expect(info.Config.Labels).toMatchObject({
          [DOCKER_LABELS.node]: 'node-labels',
          [DOCKER_LABELS.podUid]: s.podUid,
          [DOCKER_LABELS.podNamespace]: 'team-a',
          [DOCKER_LABELS.podName]: 'web-1',
          [DOCKER_LABELS.container]: 'app',
          [DOCKER_LABELS.attempt]: '3',
          [DOCKER_LABELS.init]: 'true',
        });
        expect(JSON.parse(info.Config.Labels[DOCKER_LABELS.spec])).toEqual(s);
        expect(rec.spec).toEqual(s);
        expect(info.HostConfig).toMatchObject({ Memory: 64 * 1024 * 1024, MemorySwap: 64 * 1024 * 1024, NanoCpus: 500_000_000 });
        expect((info.Config as { StopSignal?: string }).StopSignal).toBe('SIGINT');
      } finally {
        await f.cleanup();
      }
    });
  });
});
