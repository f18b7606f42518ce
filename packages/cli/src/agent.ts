/**
 * `flotilla agent`: one worker node — registers the Node, keeps its Lease and status fresh, and
 * runs the pods bound to it through the container runtime. Stopping the agent leaves the
 * containers running; the next agent on the same --root adopts them, as a restarted kubelet does.
 */
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

export function agentCommand(): Command {
  return new Command('agent')
    .description('run one worker node: register it and run the pods bound to it (the kubelet)')
    .requiredOption('--kubeconfig <file>', 'the node\'s credentials (user system:node:<name>, group system:nodes)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('--node-name <name>', 'the Node\'s name', hostname())
    .requiredOption('--node-ip <ip>', 'the node\'s IP (pods share the host network and get it as POD_IP)')
    .option('--root <dir>', 'where containers, their logs and state live', '/var/lib/flotilla/agent')
    .option('--runtime <name>', 'container runtime: process', 'process')
    .option('--cpu <quantity>', 'CPU capacity to report (default: the machine\'s)')
    .option('--memory <quantity>', 'memory capacity to report (default: the machine\'s)')
    .option('--max-pods <n>', 'pods this node takes', (v) => Number(v), 110)
    .option('--node-labels <k=v,...>', 'labels for the Node', keyValues)
    .option('--register-with-taints <key=value:Effect,...>', 'taints for the Node', taints)
    .option('--log-level <level>', 'fatal, error, warn, info, debug', 'info')
    .action(async (flags: AgentFlags) => {
      if (flags.runtime !== 'process') throw new Error(`--runtime ${flags.runtime}: only the process runtime is available so far`);
      const { KubeClient, loadKubeconfig } = await import('@flotilla/client');
      const { Kubelet, NodeAgent, ProcessRuntime } = await import('@flotilla/kubelet');
      const log = pino({ level: flags.logLevel, base: { pid: process.pid, component: 'kubelet', node: flags.nodeName } });
      const client = new KubeClient({ ...loadKubeconfig(flags.kubeconfig, flags.context), userAgent: `flotilla-kubelet/${flags.nodeName}` });
      const runtime = new ProcessRuntime(flags.root);
      const agent = new NodeAgent(client, {
        name: flags.nodeName, internalIP: flags.nodeIp, runtime: runtime.name,
        cpu: flags.cpu, memory: flags.memory, pods: flags.maxPods, labels: flags.nodeLabels, taints: flags.registerWithTaints,
      }, (msg, fields) => log.warn(fields ?? {}, msg));
      const kubelet = new Kubelet({ client, runtime, nodeName: flags.nodeName, nodeIP: flags.nodeIp, log: (msg, fields) => log.warn(fields ?? {}, msg) });
      await agent.start();
      await kubelet.start();
      log.info({ ip: flags.nodeIp, runtime: runtime.name }, 'node registered; running its pods');
      let stopping = false;
      const stop = (reason: string): void => {
        if (stopping) return;
        stopping = true;
        log.info({ reason }, 'shutting down (containers keep running; the next agent adopts them)');
        setTimeout(() => process.exit(0), 5_000).unref();
        agent.stop();
        void kubelet.stop().finally(() => void client.close().finally(() => process.exit(0)));
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
