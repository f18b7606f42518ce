/**
 * `flotilla apiserver`: run one Kubernetes API server replica over raftkv, with kube-apiserver's
 * flag names where they mean the same thing.
 */
import { Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { httpUrls } from './flags.js';

const urls = (value: string): string[] => httpUrls(value, { requirePort: false });

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${value}" is not a port number`);
  return n;
}

interface ApiserverOptions {
  etcdServers: string[];
  bindAddress: string;
  port: number;
  name: string;
  logLevel: string;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  clientCaFile?: string;
  tokenAuthFile?: string;
  serviceAccountKeyFile?: string;
  serviceAccountSigningKeyFile?: string;
  kubeletClientCertificate?: string;
  kubeletClientKey?: string;
  kubeletCertificateAuthority?: string;
}

export function apiserverCommand(): Command {
  return new Command('apiserver')
    .description('run one Kubernetes API server replica over raftkv (run as many as you like)')
    .requiredOption('--etcd-servers <urls>', 'raftkv client URLs, comma-separated', urls)
    .option('--bind-address <ip>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to serve the API on (0 picks one)', port, 6443)
    .option('--tls-cert-file <file>', 'serve https with this certificate (PEM); without it, plain http')
    .option('--tls-private-key-file <file>', 'the private key of --tls-cert-file (PEM)')
    .option('--client-ca-file <file>', 'accept client certificates signed by this CA (CN = user, O = groups)')
    .option('--token-auth-file <file>', 'bearer tokens, one per line: token,user,uid,"group1,group2"')
    .option('--service-account-key-file <file>', 'public key (PEM) that service-account tokens are verified with')
    .option('--service-account-signing-key-file <file>', 'private key (PEM) that TokenRequests are signed with')
    .option('--kubelet-client-certificate <file>', 'client certificate (PEM) presented to kubelets to read pod logs')
    .option('--kubelet-client-key <file>', 'the private key of --kubelet-client-certificate (PEM)')
    .option('--kubelet-certificate-authority <file>', 'verify kubelets\' serving certificates against this CA (PEM); unverified without')
    .option('--name <name>', 'this replica\'s name in logs', 'apiserver')
    .option('--log-level <level>', 'fatal, error, warn, info, debug', 'info')
    .action(async (opts: ApiserverOptions) => {
      // Loaded here, not at the top: every other subcommand starts faster without it.
      const { ApiServer } = await import('@flotilla/apiserver');
      const logger = pino({ level: opts.logLevel, base: { pid: process.pid, component: 'apiserver', node: opts.name } });
      const server = new ApiServer({
        etcdServers: opts.etcdServers,
        host: opts.bindAddress,
        port: opts.port,
        logger,
        tlsCertFile: opts.tlsCertFile,
        tlsKeyFile: opts.tlsPrivateKeyFile,
        clientCAFile: opts.clientCaFile,
        tokenAuthFile: opts.tokenAuthFile,
        serviceAccountKeyFile: opts.serviceAccountKeyFile,
        serviceAccountSigningKeyFile: opts.serviceAccountSigningKeyFile,
        kubeletClientCertFile: opts.kubeletClientCertificate,
        kubeletClientKeyFile: opts.kubeletClientKey,
        kubeletCAFile: opts.kubeletCertificateAuthority,
      });
      await server.start();
      let stopping = false;
      const stop = (reason: string): void => {
        if (stopping) return;
        stopping = true;
        logger.info({ reason }, 'shutting down');
        setTimeout(() => process.exit(1), 10_000).unref();
        void server.stop().finally(() => process.exit(0));
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
