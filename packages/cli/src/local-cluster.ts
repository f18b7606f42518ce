/**
 * `flotilla up` / `flotilla down`: a whole local HA cluster on one machine, each component its
 * own process. Each node gets its own loopback address (127.0.1.N by default), as separate
 * machines would have their own IPs, so every node uses the standard ports.
 *
 * State lives in DATA_DIR: cluster.json (what runs where, PIDs), the peer secret (mode 0600),
 * per-node data dirs and log files. `down` stops exactly the PIDs recorded there.
 */
import { spawn } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { RaftKvClient } from '@flotilla/raftkv/client';
import type { KeyPair } from '@flotilla/apiserver';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/flotilla.js');

export interface ClusterProcess {
  name: string;
  role: 'raftkv' | 'apiserver' | 'scheduler' | 'agent';
  /** For agents: where their containers live, and in which runtime (down stops those too). */
  root?: string;
  runtime?: 'process' | 'docker';
  dockerEndpoint?: string;
  pid: number;
  clientURL?: string;
  peerURL?: string;
  logFile: string;
}

export interface ClusterFile {
  version: 1;
  createdAt: string;
  /** The data dir as `up` resolved it: every process's arguments name it (see `ours`). */
  dataDir?: string;
  processes: ClusterProcess[];
  raftkvEndpoints: string[];
  /** The Kubernetes API replicas (absent in files written before they existed). */
  apiServers?: string[];
  kubeconfig?: string;
}

function servers(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1 || n > 7 || n % 2 === 0) throw new InvalidArgumentError('must be 1, 3, 5 or 7 (an odd number keeps a clean majority)');
  return n;
}

async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.tmp`;
  const h = await open(tmp, 'w', 0o600);
  try {
    await h.writeFile(JSON.stringify(value, null, 2) + '\n');
    await h.sync();
  } finally {
    await h.close();
  }
  await rename(tmp, file);
}

export async function readClusterFile(dataDir: string): Promise<ClusterFile | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dataDir, 'cluster.json'), 'utf8')) as ClusterFile;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a recorded process of the cluster in `dataDir` still runs: alive, and (where /proc
 * says) still the program we started, whose arguments name the data dir. A PID of a process
 * that has exited is soon someone else's, and must not be signalled.
 */
function ours(pid: number, dataDir: string): boolean {
  if (!alive(pid)) return false;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return true; // no /proc here: alive is all we can know
  }
  return cmdline.includes(dataDir);
}

async function peerSecret(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'peer-secret');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const secret = randomBytes(24).toString('hex');
    await writeFile(file, secret + '\n', { mode: 0o600 });
    return secret;
  }
}

/** Waits until every replica answers /readyz (which includes reaching raftkv). */
async function waitForApiServers(urls: string[], ca: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const url of urls) {
    for (;;) {
      try {
        if ((await httpsGet(`${url}/readyz`, ca)) === 200) break;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`the API server at ${url} did not become ready within ${timeoutMs} ms; see its log in the data dir`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function httpsGet(url: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * The cluster's PKI, made once per data dir like k3s does: a CA, a serving certificate per API
 * replica, the service-account signing key, and the admin's bearer token (in kube-apiserver's
 * token-file format). Kept in
 * DATA_DIR/pki with private files mode 0600.
 */
async function clusterPki(dataDir: string, nodeIps: string[], agentNodes: { name: string; ip: string }[]): Promise<{ dir: string; ca: KeyPair; adminToken: string; schedulerToken: string; nodeTokens: Map<string, string> }> {
  const { createCA, issue, newToken, serviceAccountKeyPair } = await import('@flotilla/client');
  const agents = agentNodes.map((a) => a.name);
  const dir = path.join(dataDir, 'pki');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let ca: KeyPair;
  try {
    ca = { certPem: await readFile(path.join(dir, 'ca.crt'), 'utf8'), keyPem: await readFile(path.join(dir, 'ca.key'), 'utf8') };
  } catch {
    ca = createCA('flotilla-ca');
    await writeFile(path.join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
    await writeFile(path.join(dir, 'ca.crt'), ca.certPem);
  }
  for (const ip of nodeIps) {
    // Reissued on every start: the node addresses may have changed (--ip-prefix).
    const serving = issue(ca, { commonName: 'flotilla-apiserver', usage: 'server', dnsNames: ['localhost', 'flotilla-apiserver'], ipAddresses: [ip, '127.0.0.1'] });
    await writeFile(path.join(dir, `apiserver-${ip}.key`), serving.keyPem, { mode: 0o600 });
    await writeFile(path.join(dir, `apiserver-${ip}.crt`), serving.certPem);
  }
  // The API servers' identity towards kubelets (pod logs), and each kubelet's serving certificate
  // for its address, so the API servers can verify whom they reach.
  const kubeletClient = issue(ca, { commonName: 'kube-apiserver-kubelet-client', organizations: ['system:masters'], usage: 'client' });
  await writeFile(path.join(dir, 'apiserver-kubelet-client.key'), kubeletClient.keyPem, { mode: 0o600 });
  await writeFile(path.join(dir, 'apiserver-kubelet-client.crt'), kubeletClient.certPem);
  for (const a of agentNodes) {
    const serving = issue(ca, { commonName: a.name, usage: 'server', dnsNames: [a.name], ipAddresses: [a.ip] });
    await writeFile(path.join(dir, `kubelet-${a.name}.key`), serving.keyPem, { mode: 0o600 });
    await writeFile(path.join(dir, `kubelet-${a.name}.crt`), serving.certPem);
  }
  try {
    await readFile(path.join(dir, 'sa.key'), 'utf8');
  } catch {
    const sa = serviceAccountKeyPair();
    await writeFile(path.join(dir, 'sa.key'), sa.privateKeyPem, { mode: 0o600 });
    await writeFile(path.join(dir, 'sa.pub'), sa.publicKeyPem);
  }
  // One token per identity: the admin (system:masters) and each component with its own role.
  const tokens = path.join(dir, 'tokens.csv');
  const lines = await readFile(tokens, 'utf8').then((t) => t.split('\n').filter(Boolean), () => [] as string[]);
  const tokenOf = (user: string, line: (token: string) => string): string => {
    const found = lines.find((l) => l.split(',')[1] === user);
    if (found) return found.split(',')[0];
    const token = newToken();
    lines.push(line(token));
    return token;
  };
  const adminToken = tokenOf('admin', (t) => `${t},admin,admin,"system:masters"`);
  const schedulerToken = tokenOf('system:kube-scheduler', (t) => `${t},system:kube-scheduler,kube-scheduler`);
  const nodeTokens = new Map(agents.map((a) => [a, tokenOf(`system:node:${a}`, (t) => `${t},system:node:${a},${a},"system:nodes"`)]));
  await writeFile(tokens, `${lines.join('\n')}\n`, { mode: 0o600 });
  return { dir, ca, adminToken, schedulerToken, nodeTokens };
}

/**
 * A kubeconfig with one context per API replica ("flotilla" is the first; "flotilla-2"… reach
 * the others), as JSON, which kubectl reads like YAML. Each cluster also lists every replica (an
 * extension kubectl ignores), so Flotilla's components move to another when theirs is down.
 */
function kubeconfig(apiServers: string[], caPem: string, token: string, user = 'flotilla-admin', current = 0, serversExtension?: (servers: string[]) => unknown): unknown {
  const names = apiServers.map((_, i) => (i === 0 ? 'flotilla' : `flotilla-${i + 1}`));
  const caData = Buffer.from(caPem).toString('base64');
  // Each context's own replica first, then the others in turn.
  const replicas = (i: number): string[] => [...apiServers.slice(i), ...apiServers.slice(0, i)];
  return {
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: apiServers.map((server, i) => ({
      name: names[i],
      cluster: { server, 'certificate-authority-data': caData, ...(serversExtension && apiServers.length > 1 ? { extensions: [serversExtension(replicas(i))] } : {}) },
    })),
    users: [{ name: user, user: { token } }],
    contexts: names.map((name) => ({ name, context: { cluster: name, user, namespace: 'default' } })),
    'current-context': names[current],
  };
}

async function waitForLeader(endpoints: string[], timeoutMs: number): Promise<number> {
  const client = new RaftKvClient({ endpoints, timeoutMs: 1_000 });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        const leaders = new Set<number>();
        for (const e of endpoints) leaders.add((await client.status(e)).leader);
        if (leaders.size === 1 && !leaders.has(0)) return [...leaders][0];
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`no raftkv leader after ${timeoutMs} ms; see the logs in the data dir`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await client.close();
  }
}

/**
 * Node N's pod block: with nodes on A.B.C.N, pods of node N get A.(B+1).N.0/24 (the default
 * 127.0.1.N nodes have their pods on 127.1.N.0/24, as DESIGN.md's example has it).
 */
function podCidrOf(ipPrefix: string, n: number): string {
  const [a, b] = ipPrefix.split('.').map(Number);
  if (!(b < 255)) throw new InvalidArgumentError(`--ip-prefix ${ipPrefix}: its second number must be below 255, as pods go on the next one`);
  return `${a}.${b + 1}.${n}.0/24`;
}

interface UpOptions {
  dataDir: string;
  detach: boolean;
  servers: number;
  agents: number;
  runtime: string;
  dockerEndpoint: string;
  ipPrefix: string;
}

export function upCommand(): Command {
  return new Command('up')
    .description('start a local HA cluster (per server node: a raftkv member, an API server and a scheduler; plus worker nodes) and wait until it serves')
    .option('--data-dir <dir>', 'where the cluster keeps its state and logs', '.flotilla')
    .option('--detach', 'start in the background and exit once the cluster serves', false)
    .option('--servers <n>', 'number of server nodes', servers, 3)
    .option('--agents <n>', 'number of worker nodes (kubelets)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 50) throw new InvalidArgumentError('must be 0..50');
      return n;
    }, 2)
    .option('--runtime <name>', 'container runtime of the agents: process or docker', (v) => {
      if (v !== 'process' && v !== 'docker') throw new InvalidArgumentError('expected process or docker');
      return v;
    }, 'process')
    .option('--docker-endpoint <url>', 'the Docker engine the agents use with --runtime docker (its bridge should be off: containers run in the host network)', 'unix:///var/run/docker.sock')
    .option('--ip-prefix <prefix>', 'loopback prefix; node N listens on PREFIX.N', '127.0.1')
    .action(async (opts: UpOptions) => {
      process.exitCode = await up(opts);
    });
}

async function up(opts: UpOptions): Promise<number> {
  const dataDir = path.resolve(opts.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const existing = await readClusterFile(dataDir);
  if (existing && existing.processes.some((p) => ours(p.pid, existing.dataDir ?? dataDir))) {
    process.stderr.write(`a cluster from ${dataDir} is already running (run \`flotilla down --data-dir ${opts.dataDir}\` first)\n`);
    return 1;
  }
  const secret = await peerSecret(dataDir);
  const nodes = Array.from({ length: opts.servers }, (_, i) => {
    const ip = `${opts.ipPrefix}.${i + 1}`;
    return { name: `server-${i + 1}`, clientURL: `http://${ip}:2379`, peerURL: `http://${ip}:2380` };
  });
  const initialCluster = nodes.map((n) => `${n.name}=${n.peerURL}`).join(',');
  const processes: ClusterProcess[] = [];
  for (const n of nodes) {
    const dir = path.join(dataDir, n.name);
    await mkdir(dir, { recursive: true });
    const logFile = path.join(dir, 'raftkv.log');
    const log = await open(logFile, 'a');
    const child = spawn(process.execPath, [
      BIN, 'raftkv', '--name', n.name, '--data-dir', path.join(dir, 'raftkv'),
      '--listen-client-urls', n.clientURL, '--listen-peer-urls', n.peerURL,
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'new',
      '--initial-cluster-token', `flotilla-local-${path.basename(dataDir)}`,
    ], { detached: opts.detach, stdio: ['ignore', log.fd, log.fd], env: { ...process.env, FLOTILLA_PEER_SECRET: secret } });
    await log.close();
    if (child.pid === undefined) throw new Error(`could not start raftkv for ${n.name}`);
    if (opts.detach) child.unref();
    processes.push({ name: n.name, role: 'raftkv', pid: child.pid, clientURL: n.clientURL, peerURL: n.peerURL, logFile });
  }
  const cluster: ClusterFile = { version: 1, createdAt: new Date().toISOString(), dataDir, processes, raftkvEndpoints: nodes.map((n) => n.clientURL) };
  await writeJsonAtomic(path.join(dataDir, 'cluster.json'), cluster);
  try {
    const leader = await waitForLeader(cluster.raftkvEndpoints, 30_000);
    process.stdout.write(`raftkv: ${opts.servers} members serving at ${cluster.raftkvEndpoints.join(',')} (leader ${leader.toString(16)})\n`);
    // One API replica per server node, each able to reach every raftkv member (its own first).
    const agents = Array.from({ length: opts.agents }, (_, i) => ({ name: `agent-${i + 1}`, ip: `${opts.ipPrefix}.${opts.servers + i + 1}`, podCIDR: podCidrOf(opts.ipPrefix, opts.servers + i + 1) }));
    const pki = await clusterPki(dataDir, nodes.map((n) => new URL(n.clientURL).hostname), agents);
    const { serversExtension } = await import('@flotilla/client');
    const apiServers: string[] = [];
    for (const n of nodes) {
      const ip = new URL(n.clientURL).hostname;
      const url = `https://${ip}:6443`;
      const logFile = path.join(dataDir, n.name, 'apiserver.log');
      const log = await open(logFile, 'a');
      const etcd = [n.clientURL, ...cluster.raftkvEndpoints.filter((e) => e !== n.clientURL)].join(',');
      const child = spawn(process.execPath, [
        BIN, 'apiserver', '--name', `${n.name}-apiserver`, '--etcd-servers', etcd, '--bind-address', ip, '--port', '6443',
        '--tls-cert-file', path.join(pki.dir, `apiserver-${ip}.crt`), '--tls-private-key-file', path.join(pki.dir, `apiserver-${ip}.key`),
        '--client-ca-file', path.join(pki.dir, 'ca.crt'), '--token-auth-file', path.join(pki.dir, 'tokens.csv'),
        '--service-account-key-file', path.join(pki.dir, 'sa.pub'), '--service-account-signing-key-file', path.join(pki.dir, 'sa.key'),
        '--kubelet-client-certificate', path.join(pki.dir, 'apiserver-kubelet-client.crt'), '--kubelet-client-key', path.join(pki.dir, 'apiserver-kubelet-client.key'),
        '--kubelet-certificate-authority', path.join(pki.dir, 'ca.crt'),
      ], {
        detached: opts.detach, stdio: ['ignore', log.fd, log.fd], env: process.env,
      });
      await log.close();
      if (child.pid === undefined) throw new Error(`could not start the API server for ${n.name}`);
      if (opts.detach) child.unref();
      processes.push({ name: `${n.name}-apiserver`, role: 'apiserver', pid: child.pid, clientURL: url, logFile });
      apiServers.push(url);
    }
    cluster.apiServers = apiServers;
    cluster.kubeconfig = path.join(dataDir, 'kubeconfig');
    await writeJsonAtomic(path.join(dataDir, 'cluster.json'), cluster);
    await waitForApiServers(apiServers, pki.ca.certPem, 30_000);
    await writeJsonAtomic(cluster.kubeconfig, kubeconfig(apiServers, pki.ca.certPem, pki.adminToken));
    process.stdout.write(`apiserver: ${apiServers.length} replicas serving at ${apiServers.join(',')}\n`);
    // A scheduler replica per server node, talking to its own node's API server; one schedules.
    for (const [i, n] of nodes.entries()) {
      const cfg = path.join(pki.dir, `scheduler-${n.name}.kubeconfig`);
      await writeJsonAtomic(cfg, kubeconfig(apiServers, pki.ca.certPem, pki.schedulerToken, 'system:kube-scheduler', i, serversExtension));
      const logFile = path.join(dataDir, n.name, 'scheduler.log');
      const log = await open(logFile, 'a');
      const child = spawn(process.execPath, [BIN, 'scheduler', '--kubeconfig', cfg, '--name', `${n.name}-scheduler`], {
        detached: opts.detach, stdio: ['ignore', log.fd, log.fd], env: process.env,
      });
      await log.close();
      if (child.pid === undefined) throw new Error(`could not start the scheduler for ${n.name}`);
      if (opts.detach) child.unref();
      processes.push({ name: `${n.name}-scheduler`, role: 'scheduler', pid: child.pid, logFile });
    }
    await writeJsonAtomic(path.join(dataDir, 'cluster.json'), cluster);
    process.stdout.write(`scheduler: ${nodes.length} replicas, one active through the kube-system/kube-scheduler Lease\n`);
    // Worker nodes: a kubelet each, with the node's own identity, on its own loopback address.
    for (const [i, a] of agents.entries()) {
      const dir = path.join(dataDir, a.name);
      await mkdir(dir, { recursive: true });
      const cfg = path.join(pki.dir, `${a.name}.kubeconfig`);
      await writeJsonAtomic(cfg, kubeconfig(apiServers, pki.ca.certPem, pki.nodeTokens.get(a.name) as string, `system:node:${a.name}`, i % apiServers.length, serversExtension));
      const logFile = path.join(dir, 'agent.log');
      const log = await open(logFile, 'a');
      const root = path.join(dir, 'containers');
      const child = spawn(process.execPath, [
        BIN, 'agent', '--kubeconfig', cfg, '--node-name', a.name, '--node-ip', a.ip, '--root', root, '--runtime', opts.runtime,
        '--docker-endpoint', opts.dockerEndpoint, '--port', '10250', '--client-ca-file', path.join(pki.dir, 'ca.crt'), '--pod-cidr', a.podCIDR,
        '--tls-cert-file', path.join(pki.dir, `kubelet-${a.name}.crt`), '--tls-private-key-file', path.join(pki.dir, `kubelet-${a.name}.key`),
      ], {
        detached: opts.detach, stdio: ['ignore', log.fd, log.fd], env: process.env,
      });
      await log.close();
      if (child.pid === undefined) throw new Error(`could not start ${a.name}`);
      if (opts.detach) child.unref();
      processes.push({ name: a.name, role: 'agent', pid: child.pid, logFile, root, runtime: opts.runtime === 'docker' ? 'docker' : 'process', dockerEndpoint: opts.dockerEndpoint });
    }
    await writeJsonAtomic(path.join(dataDir, 'cluster.json'), cluster);
    if (agents.length > 0) {
      await waitForNodesReady(apiServers[0], pki.ca.certPem, pki.adminToken, agents.map((a) => a.name), 30_000);
      process.stdout.write(`agents: ${agents.map((a) => `${a.name} (${a.ip}, pods ${a.podCIDR})`).join(', ')} Ready (${opts.runtime} runtime)\n`);
    }
    process.stdout.write(`kubeconfig: ${cluster.kubeconfig}\ntry: KUBECONFIG=${cluster.kubeconfig} kubectl get namespaces\n`);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    await stopProcesses(processes, 5_000, dataDir);
    return 1;
  }
  if (opts.detach) {
    process.stdout.write(`cluster running in the background; stop it with: npx flotilla down --data-dir ${opts.dataDir}\n`);
    return 0;
  }
  process.stdout.write('press Ctrl-C to stop the cluster\n');
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.stdout.write('stopping the cluster…\n');
      void stopProcesses(processes, 10_000, dataDir).then(() => resolve());
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

/** Waits until the API reports every named node Ready (their kubelets registered and report). */
async function waitForNodesReady(api: string, ca: string, token: string, names: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const ready = await new Promise<boolean>((resolve) => {
        const req = httpsRequest(`${api}/api/v1/nodes/${name}`, { ca, timeout: 2_000, headers: { authorization: `Bearer ${token}` } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => {
            try {
              const conds = (JSON.parse(body) as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? [];
              resolve(conds.some((c) => c.type === 'Ready' && c.status === 'True'));
            } catch {
              resolve(false);
            }
          });
        });
        req.on('timeout', () => req.destroy());
        req.on('error', () => resolve(false));
        req.end();
      });
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`node ${name} did not become Ready within ${timeoutMs} ms; see its agent.log in the data dir`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Stops what an agent's runtime still runs (its containers outlive it, for a restarted agent to adopt). */
async function stopContainers(p: ClusterProcess): Promise<number> {
  const { DockerRuntime, ProcessRuntime } = await import('@flotilla/kubelet');
  const runtime = p.runtime === 'docker'
    ? new DockerRuntime({ socketPath: (p.dockerEndpoint ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, ''), scope: p.name })
    : new ProcessRuntime(p.root ?? '');
  let stopped = 0;
  for (const r of await runtime.list()) {
    if (r.status.state === 'running') {
      await runtime.stop(r.id, 0);
      stopped++;
    }
    // Docker keeps stopped containers until removed; the process runtime's are files in the data dir.
    if (p.runtime === 'docker') await runtime.remove(r.id);
  }
  if (runtime instanceof ProcessRuntime) await runtime.stopCollector();
  return stopped;
}

/** SIGTERM each recorded PID, wait for it to exit, SIGKILL what is left after the grace period. */
/** Stops the cluster's processes that still run; returns how many there were. */
export async function stopProcesses(processes: readonly ClusterProcess[], graceMs: number, dataDir: string): Promise<number> {
  const mine = processes.filter((p) => ours(p.pid, dataDir));
  for (const p of mine) process.kill(p.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (mine.some((p) => alive(p.pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const p of mine) if (ours(p.pid, dataDir)) process.kill(p.pid, 'SIGKILL');
  return mine.length;
}

export function downCommand(): Command {
  return new Command('down')
    .description('stop a cluster started with `flotilla up`')
    .option('--data-dir <dir>', 'the cluster\'s data dir', '.flotilla')
    .action(async (opts: { dataDir: string }) => {
      const dataDir = path.resolve(opts.dataDir);
      const cluster = await readClusterFile(dataDir);
      if (!cluster) {
        process.stderr.write(`no cluster found in ${opts.dataDir} (no cluster.json)\n`);
        process.exitCode = 1;
        return;
      }
      const stopped = await stopProcesses(cluster.processes, 15_000, cluster.dataDir ?? dataDir);
      // Containers outlive their agent (a restarted agent adopts them); a cluster going down takes them along.
      let containers = 0;
      for (const p of cluster.processes) {
        if (p.role !== 'agent' || (!p.root && p.runtime !== 'docker')) continue;
        containers += await stopContainers(p).catch((err: Error) => {
          process.stderr.write(`stopping the containers of ${p.name}: ${err.message}\n`);
          return 0;
        });
      }
      process.stdout.write(`stopped ${stopped} processes${containers ? ` and ${containers} container${containers === 1 ? '' : 's'}` : ''}\n`);
    });
}
