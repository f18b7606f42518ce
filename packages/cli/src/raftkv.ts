/**
 * `flotilla raftkv`: run one raftkv member, with etcd's flag names so etcd users feel at home.
 */
import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { RaftKvServer, buildHttpApi, hasMemberData } from '@flotilla/raftkv';
import { httpUrls } from './flags.js';

const urls = (value: string): string[] => httpUrls(value, { requirePort: true });

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`"${value}" is not a positive integer`);
  return n;
}

export function parseInitialCluster(value: string): { name: string; peerURL: string }[] {
  const out: { name: string; peerURL: string }[] = [];
  for (const part of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`"${part}": expected NAME=URL`);
    const [peerURL] = urls(part.slice(eq + 1));
    out.push({ name: part.slice(0, eq), peerURL });
  }
  if (out.length === 0) throw new InvalidArgumentError('at least one member is required');
  return out;
}

interface RaftkvOptions {
  name: string;
  dataDir?: string;
  listenClientUrls: string[];
  advertiseClientUrls?: string[];
  listenPeerUrls: string[];
  initialAdvertisePeerUrls?: string[];
  initialCluster?: { name: string; peerURL: string }[];
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  heartbeatInterval: number;
  electionTimeout: number;
  snapshotCount: number;
  experimentalSnapshotCatchupEntries: number;
  peerSecretFile?: string;
  restore?: string;
  logLevel: string;
}

export function raftkvCommand(): Command {
  return new Command('raftkv')
    .description('run one member of a raftkv cluster (the etcd equivalent)')
    .option('--name <name>', 'human-readable name of this member', 'default')
    .option('--data-dir <dir>', 'where the WAL and snapshots live (default: <name>.raftkv)')
    .option('--listen-client-urls <urls>', 'URLs to serve clients on', urls, ['http://127.0.0.1:2379'])
    .option('--advertise-client-urls <urls>', 'client URLs other members and clients should use (default: the listen URLs)', urls)
    .option('--listen-peer-urls <urls>', 'URL to serve peers on', urls, ['http://127.0.0.1:2380'])
    .option('--initial-advertise-peer-urls <urls>', 'peer URL advertised to the cluster (default: the listen URL)', urls)
    .option('--initial-cluster <list>', 'NAME=PEER_URL,… of every initial member (default: this member alone)', parseInitialCluster)
    .addOption(new Option('--initial-cluster-state <state>', '"new" to bootstrap, "existing" to join a running cluster').choices(['new', 'existing']).default('new'))
    .option('--initial-cluster-token <token>', 'distinguishes clusters built from the same URLs', 'flotilla-raftkv')
    .option('--heartbeat-interval <ms>', 'leader heartbeat interval in milliseconds', positiveInt, 50)
    .option('--election-timeout <ms>', 'election timeout in milliseconds (randomised up to twice this)', positiveInt, 500)
    .option('--snapshot-count <n>', 'applied entries between snapshots', positiveInt, 100_000)
    .option('--experimental-snapshot-catchup-entries <n>', 'entries kept behind a snapshot for slow followers', positiveInt, 5_000)
    .option('--peer-secret-file <file>', 'file holding the shared peer secret (or set FLOTILLA_PEER_SECRET)')
    .option('--restore <file>', 'seed a new data dir from a `flotilla kv snapshot save` file')
    .option('--log-level <level>', 'fatal, error, warn, info, debug', 'info')
    .action(async (opts: RaftkvOptions) => {
      await runRaftkv(opts);
    });
}

async function runRaftkv(opts: RaftkvOptions): Promise<void> {
  const logger = pino({ level: opts.logLevel, base: { pid: process.pid } });
  let secret = process.env.FLOTILLA_PEER_SECRET ?? '';
  if (opts.peerSecretFile) secret = (await readFile(opts.peerSecretFile, 'utf8')).trim();
  if (!secret) {
    throw new Error('a peer secret is required so that no unauthenticated process can join or vote: set FLOTILLA_PEER_SECRET or pass --peer-secret-file FILE (every member needs the same secret)');
  }
  const peerURLs = opts.initialAdvertisePeerUrls ?? opts.listenPeerUrls;
  const clientURLs = opts.advertiseClientUrls ?? opts.listenClientUrls;
  const dataDir = opts.dataDir ?? `${opts.name}.raftkv`;
  const initialCluster = opts.initialCluster ?? [{ name: opts.name, peerURL: peerURLs[0] }];
  let restoreFrom: Uint8Array | undefined;
  if (opts.restore) {
    if (await hasMemberData(dataDir)) throw new Error(`--restore needs an empty data dir, but ${dataDir} already holds member data`);
    restoreFrom = await readFile(opts.restore);
  }

  const member = new RaftKvServer({
    name: opts.name,
    dataDir,
    clientURLs,
    peerURLs,
    initialCluster,
    initialClusterState: opts.initialClusterState,
    initialClusterToken: opts.initialClusterToken,
    peerSecret: secret,
    heartbeatIntervalMs: opts.heartbeatInterval,
    electionTimeoutMs: opts.electionTimeout,
    snapshotCount: opts.snapshotCount,
    snapshotCatchUpEntries: opts.experimentalSnapshotCatchupEntries,
    restoreFrom,
    logger,
  });
  await member.start();
  const app = buildHttpApi(member, { metricsText: () => member.metricsText(), metricsContentType: member.metrics.registry.contentType });
  const listen = new URL(opts.listenClientUrls[0]);
  await app.listen({ host: listen.hostname, port: Number(listen.port) });
  logger.info({ component: 'raftkv', node: opts.name, url: opts.listenClientUrls[0] }, 'serving clients');

  let stopping: Promise<void> | undefined;
  const stop = (reason: string, code: number): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ component: 'raftkv', node: opts.name, reason }, 'shutting down');
      const force = setTimeout(() => process.exit(code || 1), 10_000);
      force.unref();
      await app.close().catch(() => undefined);
      await member.stop();
      process.exit(code);
    })();
    return stopping;
  };
  process.on('SIGTERM', () => void stop('SIGTERM', 0));
  process.on('SIGINT', () => void stop('SIGINT', 0));
  member.setOnRemoved(() => void stop('removed from the cluster', 0));
  member.onFatal = (err) => void stop(`fatal: ${err.message}`, 1);
}
