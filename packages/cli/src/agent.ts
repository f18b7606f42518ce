/**
 * `flotilla agent`: one worker node — registers the Node, keeps its Lease and status fresh, and
 * runs the pods bound to it through the container runtime. Stopping the agent leaves the
 * containers running; the next agent on the same --root adopts them, as a restarted kubelet does.
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';

interface AgentFlags {
  kubeconfig: string;
  context?: string;
  nodeName: string;
  nodeIp: string;
  root: string;
  runtime: string;
  cpu?: string;
  memory?: string;
  maxPods?: number;
  nodeLabels?: Record<string, string>;
  registerWithTaints?: { key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[];
  logLevel: string;
  address?: string;
  port: number;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  clientCaFile?: string;
  dockerEndpoint: string;
  containerRestartBackoff?: { baseMs: number; maxMs: number };
  podCidr?: string;
}

/** "10s", "500ms", "5m" → ms. */
function duration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`"${text}": expected a duration such as 500ms, 10s or 5m`);
  return Number(m[1]) * ({ ms: 1, s: 1_000, m: 60_000 } as const)[m[2] as 'ms' | 's' | 'm'];
}

function keyValues(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`"${part}": expected key=value`);
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

function taints(value: string): AgentFlags['registerWithTaints'] {
  return value.split(',').map((s) => s.trim()).filter(Boolean).map((t) => {
    const m = /^([^=:]+)(?:=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$/.exec(t);
    if (!m) throw new InvalidArgumentError(`"${t}": expected key[=value]:Effect (NoSchedule, PreferNoSchedule or NoExecute)`);
    return m[2] === undefined ? { key: m[1], effect: m[3] as 'NoSchedule' } : { key: m[1], value: m[2], effect: m[3] as 'NoSchedule' };
  });
}

/** unix:///path → /path; the Docker engine is reached over its unix socket. */
function dockerSocket(endpoint: string): string {
  if (endpoint.startsWith('unix://')) return endpoint.slice('unix://'.length);
  if (endpoint.startsWith('/')) return endpoint;
  throw new InvalidArgumentError(`--docker-endpoint ${endpoint}: expected unix:///path/to/docker.sock`);
}

export function agentCommand(): Command {
  return new Command('agent')
    .description('run one worker node: register it and run the pods bound to it (the kubelet)')
    .requiredOption('--kubeconfig <file>', 'the node\'s credentials (user system:node:<name>, group system:nodes)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('--node-name <name>', 'the Node\'s name', hostname())
    .requiredOption('--node-ip <ip>', 'the node\'s IP (pods share the host network and get it as POD_IP)')
    .option('--root <dir>', 'where containers, their logs and state live', '/var/lib/flotilla/agent')
    .option('--runtime <name>', 'container runtime: process (each container a process group) or docker', 'process')
    .option('--pod-cidr <cidr>', 'block each pod gets an IP of its own from, e.g. 127.1.4.0/24 (default: pods have the node IP)')
    .option('--docker-endpoint <url>', 'the Docker engine for --runtime docker', 'unix:///var/run/docker.sock')
    .option('--address <ip>', 'address the kubelet\'s own server (logs, /metrics) listens on (default: --node-ip)')
    .option('--port <port>', 'port of the kubelet\'s own server (0 picks one; the Node reports it)', (v) => Number(v), 10250)
    .option('--tls-cert-file <file>', 'serving certificate of the kubelet\'s server (PEM); self-signed when absent')
    .option('--tls-private-key-file <file>', 'the private key of --tls-cert-file (PEM)')
    .option('--client-ca-file <file>', 'CA of the API server\'s kubelet-client certificate; without it no one may read logs')
    .option('--cpu <quantity>', 'CPU capacity to report (default: the machine\'s)')
    .option('--memory <quantity>', 'memory capacity to report (default: the machine\'s)')
    .option('--max-pods <n>', 'pods this node takes', (v) => Number(v), 110)
    .option('--node-labels <k=v,...>', 'labels for the Node', keyValues)
    .option('--register-with-taints <key=value:Effect,...>', 'taints for the Node', taints)
    .option('--container-restart-backoff <initial,max>', 'CrashLoopBackOff: the first wait before a restart and its cap (Kubernetes: 10s,5m)', (v) => {
      const [base, max] = v.split(',');
      return { baseMs: duration(base), maxMs: duration(max ?? '5m') };
    })
    .option('--log-level <level>', 'fatal, error, warn, info, debug', 'info')
    .action(async (flags: AgentFlags) => {
      if (flags.runtime !== 'process' && flags.runtime !== 'docker') throw new Error(`--runtime ${flags.runtime}: expected process or docker`);
      if ((flags.tlsCertFile === undefined) !== (flags.tlsPrivateKeyFile === undefined)) throw new Error('--tls-cert-file and --tls-private-key-file go together');
      const { KubeClient, loadKubeconfig, selfSigned } = await import('@flotilla/client');
      const { DockerRuntime, Kubelet, KubeletMetrics, KubeletServer, KUBERNETES_BACKOFF, NodeAgent, ProcessRuntime } = await import('@flotilla/kubelet');
      const log = pino({ level: flags.logLevel, base: { pid: process.pid, component: 'kubelet', node: flags.nodeName } });
      const client = new KubeClient({ ...loadKubeconfig(flags.kubeconfig, flags.context), userAgent: `flotilla-kubelet/${flags.nodeName}` });
      const runtime = flags.runtime === 'docker'
        ? new DockerRuntime({ socketPath: dockerSocket(flags.dockerEndpoint), scope: flags.nodeName })
        : new ProcessRuntime(flags.root);
      if (runtime instanceof ProcessRuntime) {
        await mkdir(flags.root, { recursive: true });
        await runtime.ensureCollector();
      }
      const metrics = new KubeletMetrics();
      const backoff = flags.containerRestartBackoff ? { ...KUBERNETES_BACKOFF, ...flags.containerRestartBackoff } : KUBERNETES_BACKOFF;
      const kubelet = new Kubelet({
        client, runtime, nodeName: flags.nodeName, nodeIP: flags.nodeIp, metrics, backoff, log: (msg, fields) => log.warn(fields ?? {}, msg),
        ...(flags.podCidr ? { podCIDR: flags.podCidr } : {}),
      });
      // The kubelet's own server first: the Node reports the port it got.
      const tls = flags.tlsCertFile && flags.tlsPrivateKeyFile
        ? { certPem: readFileSync(flags.tlsCertFile, 'utf8'), keyPem: readFileSync(flags.tlsPrivateKeyFile, 'utf8') }
        : selfSigned({ commonName: `${flags.nodeName}@${Math.floor(Date.now() / 1000)}`, ipAddresses: [flags.nodeIp], dnsNames: [flags.nodeName] });
      const server = new KubeletServer({
        kubelet, metrics, tls, host: flags.address ?? flags.nodeIp, port: flags.port,
        ...(flags.clientCaFile ? { clientCAPem: readFileSync(flags.clientCaFile, 'utf8') } : {}),
      });
      const port = await server.start();
      const agent = new NodeAgent(client, {
        name: flags.nodeName, internalIP: flags.nodeIp, runtime: runtime.name, kubeletPort: port, limitsEnforced: runtime.enforcesLimits,
        ...(flags.podCidr ? { podCIDR: flags.podCidr } : {}),
        cpu: flags.cpu, memory: flags.memory, pods: flags.maxPods, labels: flags.nodeLabels, taints: flags.registerWithTaints,
      }, (msg, fields) => log.warn(fields ?? {}, msg));
      await agent.start();
      await kubelet.start();
      log.info({ ip: flags.nodeIp, runtime: runtime.name, port, limitsEnforced: runtime.enforcesLimits }, 'node registered; running its pods');
      let stopping = false;
      const stop = (reason: string): void => {
        if (stopping) return;
        stopping = true;
        log.info({ reason }, 'shutting down (containers keep running; the next agent adopts them)');
        setTimeout(() => process.exit(0), 5_000).unref();
        agent.stop();
        void Promise.allSettled([kubelet.stop(), server.stop()]).finally(() => void client.close().finally(() => process.exit(0)));
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
