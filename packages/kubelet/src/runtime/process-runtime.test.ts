import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProcessRuntime } from './process-runtime.js';
import { describeRuntime } from './runtime.compliance.js';
import { RuntimeError } from './runtime.js';

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
