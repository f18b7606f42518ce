/**
 * `flotilla scheduler`: one scheduler replica. Any number may run; a Lease in kube-system picks
 * the one that schedules, and a standby takes over within about a lease duration (1 s) after the
 * active one dies. A replica that loses the Lease (it could not renew in time, say under load)
 * stops scheduling at once and its state is thrown away; it stays a candidate, and when it wins
 * again it starts afresh from the API. kube-scheduler exits instead and relies on a supervisor to
 * restart it; `flotilla up` has none, and the last replica standing must not give up. Binds it
 * had in flight are safe either way: the API binds a pod only once.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Command } from 'commander';
import { pino } from 'pino';

interface SchedulerFlags {
  kubeconfig: string;
  context?: string;
  name: string;
  leaderElect: boolean;
  logLevel: string;
}

export function schedulerCommand(): Command {
  return new Command('scheduler')
    .description('run one scheduler replica (leader-elected through a Lease; run several for HA)')
    .requiredOption('--kubeconfig <file>', 'credentials and address of the API server')
    .option('--context <name>', 'kubeconfig context to use (default: its current one)')
    .option('--name <name>', 'this replica\'s identity in the Lease and in logs', `${hostname()}-${randomBytes(3).toString('hex')}`)
    .option('--no-leader-elect', 'schedule at once without taking the Lease (a single replica)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug', 'info')
    .action(async (flags: SchedulerFlags) => {
      const { KubeClient, LeaderElector, loadKubeconfig } = await import('@flotilla/client');
      const { EVENT_FLUSH_ON_STOP_MS, Scheduler, schedulerEventRecorder } = await import('@flotilla/scheduler');
      const log = pino({ level: flags.logLevel, base: { pid: process.pid, component: 'scheduler', node: flags.name } });
      const client = new KubeClient({ ...loadKubeconfig(flags.kubeconfig, flags.context), userAgent: 'flotilla-scheduler' });
      const logInfo = (msg: string, fields?: Record<string, unknown>): void => log.info(fields ?? {}, msg);
      // One recorder for the life of the process: a replica that loses the Lease still sends the
      // events of the binds it made before (they are facts), and the next term adds to the queue.
      const recorder = schedulerEventRecorder(client, 'default-scheduler', logInfo);
      const newScheduler = (): InstanceType<typeof Scheduler> => new Scheduler({ client, log: logInfo, recorder });
      let scheduler: InstanceType<typeof Scheduler> | undefined;
      let stopping = false;
      const exit = async (reason: string, code: number): Promise<void> => {
        if (stopping) return;
        stopping = true;
        log.info({ reason }, 'shutting down');
        setTimeout(() => process.exit(code), 5_000).unref();
        await elector?.stop().catch(() => undefined);
        await scheduler?.stop().catch(() => undefined);
        await recorder.close(EVENT_FLUSH_ON_STOP_MS);
        await client.close().catch(() => undefined);
        process.exit(code);
      };
      let elector: InstanceType<typeof LeaderElector> | undefined;
      if (flags.leaderElect) {
        elector = new LeaderElector({
          client,
          namespace: 'kube-system',
          name: 'kube-scheduler',
          identity: flags.name,
          onStartedLeading: () => {
            log.info({ leader: flags.name }, 'became the leader; scheduling');
            const s = newScheduler();
            scheduler = s;
            s.start().catch((err: Error) => void exit(`could not start: ${err.message}`, 1));
          },
          onStoppedLeading: () => {
            if (stopping) return;
            log.warn({}, 'lost the leader Lease; stopped scheduling, standing by');
            const s = scheduler;
            scheduler = undefined;
            void s?.stop().catch((err: Error) => log.error({ err: err.message }, 'stopping the scheduler failed'));
          },
          onNewLeader: (id) => log.info({ leader: id }, 'leader is'),
        });
        elector.start();
      } else {
        scheduler = newScheduler();
        await scheduler.start();
        log.info({}, 'scheduling (no leader election)');
      }
      process.on('SIGTERM', () => void exit('SIGTERM', 0));
      process.on('SIGINT', () => void exit('SIGINT', 0));
    });
}
