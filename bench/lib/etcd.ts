/**
 * etcd as a reference system: install Debian's etcd-server if it is missing, and the arguments
 * for one member of a local cluster (our own processes with explicit flags; Debian's packaged
 * service and /etc/default/etcd play no part).
 */
import { commandOutput, runVisible, which } from './proc.js';
import type { ClusterKind } from './cluster.js';

/** Returns the etcd binary, installing Debian's `etcd-server` package first if needed. */
export function ensureEtcd(): string {
  const found = which('etcd');
  if (found) return found;
  process.stdout.write('etcd is not on PATH: installing Debian\'s etcd-server package (apt-get update && apt-get install -y etcd-server)\n');
  // RUNLEVEL=1 keeps invoke-rc.d from starting the packaged service where an init system exists.
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', RUNLEVEL: '1' };
  runVisible('apt-get', ['update'], env);
  runVisible('apt-get', ['install', '-y', 'etcd-server'], env);
  const installed = which('etcd') ?? (which('/usr/bin/etcd') ? '/usr/bin/etcd' : undefined);
  if (!installed) throw new Error('etcd-server was installed but no etcd binary is on PATH');
  return installed;
}

export function etcdVersion(bin: string): string {
  const out = commandOutput(bin, ['--version']) ?? '';
  const m = /etcd Version:\s*(\S+)/.exec(out);
  return m ? m[1] : out.split('\n')[0] || 'unknown';
}

/** Environment for etcd children: without ETCD_* variables, which etcd would read as flags. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ETCD_')) env[k] = v;
  return env;
}

/** Default etcd flags apart from the cluster layout: fsync on (no --unsafe-no-fsync), default timeouts. */
export function etcdKind(bin: string, extraArgs: string[] = []): ClusterKind {
  return {
    kind: 'etcd',
    command: bin,
    env: cleanEnv(),
    args: (m, all, token) => [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientURL,
      '--advertise-client-urls', m.clientURL,
      '--listen-peer-urls', m.peerURL,
      '--initial-advertise-peer-urls', m.peerURL,
      '--initial-cluster', all.map((x) => `${x.name}=${x.peerURL}`).join(','),
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', token,
      '--logger', 'zap',
      '--log-level', 'error',
      ...extraArgs,
    ],
  };
}
