/**
 * raftkv members started through the real CLI (`node packages/cli/bin/flotilla.js raftkv …`),
 * with etcd's flag names and a random shared peer secret.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterKind } from './cluster.js';

/**
 * `cliPath` overrides the flotilla launcher (e.g. another checkout's build, to compare two
 * versions); by default the repository's own packages/cli/bin/flotilla.js.
 */
export function raftkvKind(repoRoot: string, extraArgs: string[] = [], cliPath?: string): ClusterKind {
  const bin = cliPath ?? join(repoRoot, 'packages/cli/bin/flotilla.js');
  const dist = join(repoRoot, 'packages/cli/dist/main.js');
  if (!existsSync(bin) || (!cliPath && !existsSync(dist))) {
    throw new Error(`raftkv CLI not built (${bin} / ${dist} missing): run \`npm run build\` first`);
  }
  const secret = randomBytes(24).toString('hex');
  return {
    kind: 'raftkv',
    command: process.execPath,
    cwd: repoRoot,
    env: { ...process.env, FLOTILLA_PEER_SECRET: secret },
    args: (m, all, token) => [
      bin,
      'raftkv',
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientURL,
      '--listen-peer-urls', m.peerURL,
      '--initial-cluster', all.map((x) => `${x.name}=${x.peerURL}`).join(','),
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', token,
      '--log-level', 'error',
      ...extraArgs,
    ],
  };
}
