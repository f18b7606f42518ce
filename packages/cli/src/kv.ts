/**
 * `flotilla kv`: talk to a raftkv cluster like etcdctl. Commands, flags and simple output follow
 * etcdctl v3.5 (ids in hex: leases as %016x, members as %x); `--write-out json` prints responses
 * in the JSON gateway's shape (snake_case, base64 keys/values, int64 as strings).
 *
 * Exit codes: 0 success, 1 an error from the cluster or I/O ("Error: ..." on stderr),
 * 2 a usage error. Endpoints: --endpoints, else $FLOTILLA_ENDPOINTS, else http://127.0.0.1:2379.
 */
import { Buffer } from 'node:buffer';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { gateway, RaftKvClient, isLeaseNotFound } from '@flotilla/raftkv/client';
import type { KeyValue, Member, MemberStatus, SortOrder, SortTarget, WatchEvent } from '@flotilla/raftkv/client';
import { choice, parseDuration, parseEndpoints, parseHexId, parseNonNegInt, parsePositiveInt, parseUrlList, parseWriteOut } from './kv/args.js';
import type { WriteOut } from './kv/args.js';
import type { Writer } from './kv/format.js';
import { goDuration, hex, humanBytes, leaseHex, Out, table } from './kv/format.js';

export interface KvIo {
  out: Writer;
  err: Writer;
  /** Stops long-running commands (watch, lease keep-alive). Default: SIGINT or SIGTERM. */
  signal?: AbortSignal;
  /** Default: process.env (FLOTILLA_ENDPOINTS). */
  env?: Record<string, string | undefined>;
}

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:2379';

/** A usage error found after parsing (exit code 2). */
class UsageError extends Error {}

interface GlobalOpts {
  endpoints?: string[];
  writeOut?: WriteOut;
  commandTimeout: number;
}

interface Ctx {
  readonly io: KvIo;
  readonly endpoints: string[];
  readonly format: WriteOut | undefined;
  readonly timeoutMs: number;
  readonly out: Out;
  client(): RaftKvClient;
  /** A client of one endpoint, without failover (endpoint status/health). */
  clientFor(endpoint: string): RaftKvClient;
  json(value: unknown): void;
  exitCode: number;
}

export async function kvCommand(argv: string[], io: KvIo = { out: process.stdout, err: process.stderr }): Promise<number> {
  const clients: RaftKvClient[] = [];
  let exitCode = 0;
  const env = io.env ?? process.env;

  const makeCtx = (cmd: Command): Ctx => {
    const o = cmd.optsWithGlobals<GlobalOpts>();
    let endpoints = o.endpoints;
    if (endpoints === undefined) {
      try {
        endpoints = parseEndpoints(env.FLOTILLA_ENDPOINTS ?? DEFAULT_ENDPOINT);
      } catch (err) {
        throw new UsageError(`FLOTILLA_ENDPOINTS: ${(err as Error).message}`);
      }
    }
    const eps = endpoints;
    let shared: RaftKvClient | undefined;
    const out = new Out();
    const ctx: Ctx = {
      io,
      endpoints: eps,
      format: o.writeOut,
      timeoutMs: o.commandTimeout,
      out,
      client: () => {
        if (shared === undefined) {
          shared = new RaftKvClient({ endpoints: eps, timeoutMs: o.commandTimeout });
          clients.push(shared);
        }
        return shared;
      },
      clientFor: (endpoint) => {
        const c = new RaftKvClient({ endpoints: [endpoint], timeoutMs: o.commandTimeout, retries: 0 });
        clients.push(c);
        return c;
      },
      json: (value) => {
        out.line(JSON.stringify(value));
      },
      get exitCode() {
        return exitCode;
      },
      set exitCode(c: number) {
        exitCode = c;
      },
    };
    return ctx;
  };

  /** Wraps an action: builds its context and flushes its output, even on error. */
  const run =
    <A extends unknown[]>(fn: (ctx: Ctx, ...args: A) => Promise<void>) =>
    async (...args: unknown[]): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      const ctx = makeCtx(cmd);
      try {
        await fn(ctx, ...(args.slice(0, -1) as A));
      } finally {
        ctx.out.flush(io.out);
      }
    };

  const program = buildProgram(io, run);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has printed its message already.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      return 2;
    }
    io.err.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
    return err instanceof UsageError ? 2 : 1;
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  }
}

type Run = <A extends unknown[]>(fn: (ctx: Ctx, ...args: A) => Promise<void>) => (...args: unknown[]) => Promise<void>;

function buildProgram(io: KvIo, run: Run): Command {
  const program = new Command('flotilla kv')
    .description('talk to a raftkv cluster like etcdctl')
    .option('--endpoints <urls>', `comma-separated client URLs (default: $FLOTILLA_ENDPOINTS or ${DEFAULT_ENDPOINT})`, parseEndpoints)
    .addOption(new Option('-w, --write-out <format>', 'output format: simple, json or table').argParser(parseWriteOut))
    .option('--command-timeout <duration>', 'timeout of each request (e.g. 5s, 500ms)', parseDuration, 5000)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out.write(s),
      writeErr: (s) => io.err.write(s),
    })
    .showHelpAfterError('(add --help for usage)')
    .allowExcessArguments(false);

  // ---- put / get / del ------------------------------------------------------------------------
  program
    .command('put')
    .description('put the given key into the store')
    .argument('<key>')
    .argument('[value]')
    .option('--lease <id>', 'attach the key to this lease (hex id)', parseHexId)
    .option('--prev-kv', 'print the previous key-value pair')
    .option('--ignore-value', 'keep the current value')
    .option('--ignore-lease', 'keep the current lease')
    .action(
      run(async (ctx, key: string, value: string | undefined, o: { lease?: number; prevKv?: boolean; ignoreValue?: boolean; ignoreLease?: boolean }) => {
        if (value === undefined && !o.ignoreValue) throw new UsageError('put needs a key and a value (or --ignore-value)');
        const r = await ctx.client().put(key, value ?? '', { lease: o.lease, prevKv: o.prevKv, ignoreValue: o.ignoreValue, ignoreLease: o.ignoreLease });
        if (ctx.format === 'json') return ctx.json(gateway.encodePutResponse(r, r.header));
        ctx.out.line('OK');
        if (o.prevKv && r.prevKv) printKv(ctx.out, r.prevKv, {});
      }),
    );

  program
    .command('get')
    .description('get a key or a range of keys')
    .argument('<key>')
    .argument('[end]', 'range end (exclusive)')
    .option('--prefix', 'get every key with the prefix <key>')
    .option('--from-key', 'get every key >= <key>')
    .option('--limit <n>', 'maximum number of results', parseNonNegInt)
    .option('--rev <n>', 'read at this revision', parseNonNegInt)
    .option('--keys-only', 'print only keys')
    .option('--count-only', 'print only the number of keys')
    .option('--print-value-only', 'print only values')
    .addOption(new Option('--consistency <l|s>', 'linearizable (l) or serializable (s)').choices(['l', 's']).default('l'))
    .addOption(new Option('--order <order>', 'ASCEND or DESCEND').argParser(choice<SortOrder>(['ascend', 'descend'])))
    .addOption(new Option('--sort-by <target>', 'KEY, VERSION, CREATE, MODIFY or VALUE').argParser(choice<SortTarget>(['key', 'version', 'create', 'mod', 'value'], { MODIFY: 'mod' })))
    .action(
      run(
        async (
          ctx,
          key: string,
          end: string | undefined,
          o: { prefix?: boolean; fromKey?: boolean; limit?: number; rev?: number; keysOnly?: boolean; countOnly?: boolean; printValueOnly?: boolean; consistency: string; order?: SortOrder; sortBy?: SortTarget },
        ) => {
          if (end !== undefined && (o.prefix || o.fromKey)) throw new UsageError('`get` takes either a range end or --prefix/--from-key, not both');
          const r = await ctx.client().get(key, {
            rangeEnd: end,
            prefix: o.prefix,
            fromKey: o.fromKey,
            limit: o.limit,
            revision: o.rev,
            keysOnly: o.keysOnly,
            countOnly: o.countOnly,
            serializable: o.consistency === 's',
            sortOrder: o.order,
            sortTarget: o.sortBy,
          });
          if (ctx.format === 'json') return ctx.json(gateway.encodeRangeResponse(r, r.header));
          if (o.countOnly) {
            ctx.out.line(String(r.count));
            return;
          }
          for (const kv of r.kvs) printKv(ctx.out, kv, { valueOnly: o.printValueOnly });
        },
      ),
    );

  program
    .command('del')
    .description('delete a key or a range of keys')
    .argument('<key>')
    .argument('[end]', 'range end (exclusive)')
    .option('--prefix', 'delete every key with the prefix <key>')
    .option('--from-key', 'delete every key >= <key>')
    .option('--prev-kv', 'print the deleted key-value pairs')
    .action(
      run(async (ctx, key: string, end: string | undefined, o: { prefix?: boolean; fromKey?: boolean; prevKv?: boolean }) => {
        if (end !== undefined && (o.prefix || o.fromKey)) throw new UsageError('`del` takes either a range end or --prefix/--from-key, not both');
        const r = await ctx.client().delete(key, { rangeEnd: end, prefix: o.prefix, fromKey: o.fromKey, prevKv: o.prevKv });
        if (ctx.format === 'json') return ctx.json(gateway.encodeDeleteRangeResponse(r, r.header));
        ctx.out.line(String(r.deleted));
        for (const kv of r.prevKvs) printKv(ctx.out, kv, {});
      }),
    );

  program
    .command('compaction')
    .description('discard the history before a revision')
    .argument('<revision>', 'revision', parsePositiveInt)
    .option('--physical', 'accepted for compatibility (compaction is always complete when it returns)')
    .action(
      run(async (ctx, revision: number) => {
        const r = await ctx.client().compact(revision);
        if (ctx.format === 'json') return ctx.json({ header: gateway.encodeHeader(r.header) });
        ctx.out.line(`compacted revision ${revision}`);
      }),
    );

  // ---- watch ----------------------------------------------------------------------------------
  program
    .command('watch')
    .description('watch a key or range for changes (until interrupted)')
    .argument('<key>')
    .argument('[end]', 'range end (exclusive)')
    .option('--prefix', 'watch every key with the prefix <key>')
    .option('--rev <n>', 'start at this revision (replaying history)', parseNonNegInt)
    .option('--prev-kv', 'print the previous key-value pair of each event')
    .option('--progress-notify', 'ask for periodic progress notifications')
    .action(
      run(async (ctx, key: string, end: string | undefined, o: { prefix?: boolean; rev?: number; prevKv?: boolean; progressNotify?: boolean }) => {
        if (end !== undefined && o.prefix) throw new UsageError('`watch` takes either a range end or --prefix, not both');
        const stop = stopSignal(ctx.io);
        try {
          await new Promise<void>((resolve, reject) => {
            if (stop.signal.aborted) return resolve();
            stop.signal.addEventListener('abort', () => resolve(), { once: true });
            const w = ctx.client().watch(key, {
              rangeEnd: end,
              prefix: o.prefix,
              startRevision: o.rev,
              prevKv: o.prevKv,
              progressNotify: o.progressNotify,
              signal: stop.signal,
              onEvents: (events, revision) => {
                if (ctx.format === 'json') {
                  ctx.json({ revision: String(revision), events: events.map((e) => gateway.encodeEvent(e)) });
                } else {
                  for (const e of events) printEvent(ctx.out, e);
                }
                ctx.out.flush(ctx.io.out);
              },
              onError: reject,
            });
            w.ready.catch((err: unknown) => {
              if (!stop.signal.aborted) reject(err);
            });
          });
        } finally {
          stop.dispose();
        }
      }),
    );

  // ---- lease ----------------------------------------------------------------------------------
  const lease = program.command('lease').description('lease commands (ids in hex)');
  lease
    .command('grant')
    .description('create a lease')
    .argument('<ttl>', 'time to live, seconds', parsePositiveInt)
    .action(
      run(async (ctx, ttl: number) => {
        const r = await ctx.client().leaseGrant(ttl);
        if (ctx.format === 'json') return ctx.json({ header: gateway.encodeHeader(r.header), ID: String(r.ID), TTL: String(r.TTL) });
        ctx.out.line(`lease ${leaseHex(r.ID)} granted with TTL(${r.TTL}s)`);
      }),
    );
  lease
    .command('revoke')
    .description('revoke a lease (deletes its keys)')
    .argument('<id>', 'lease id (hex)', parseHexId)
    .action(
      run(async (ctx, id: number) => {
        const r = await ctx.client().leaseRevoke(id);
        if (ctx.format === 'json') return ctx.json({ header: gateway.encodeHeader(r.header) });
        ctx.out.line(`lease ${leaseHex(id)} revoked`);
      }),
    );
  lease
    .command('timetolive')
    .description('show a lease\'s remaining time')
    .argument('<id>', 'lease id (hex)', parseHexId)
    .option('--keys', 'list the keys attached to the lease')
    .action(
      run(async (ctx, id: number, o: { keys?: boolean }) => {
        const r = await ctx.client().leaseTimeToLive(id, { keys: o.keys });
        if (ctx.format === 'json') {
          return ctx.json({ header: gateway.encodeHeader(r.header), ID: String(r.ID), TTL: String(r.TTL), grantedTTL: String(r.grantedTTL), keys: r.keys.map(gateway.b64) });
        }
        if (r.TTL === -1) {
          ctx.out.line(`lease ${leaseHex(id)} already expired`);
          return;
        }
        let line = `lease ${leaseHex(id)} granted with TTL(${r.grantedTTL}s), remaining(${r.TTL}s)`;
        if (o.keys) line += `, attached keys([${r.keys.map((k) => Buffer.from(k).toString('utf8')).join(' ')}])`;
        ctx.out.line(line);
      }),
    );
  lease
    .command('keep-alive')
    .description('keep a lease alive (until interrupted, or once with --once)')
    .argument('<id>', 'lease id (hex)', parseHexId)
    .option('--once', 'renew once and exit')
    .action(
      run(async (ctx, id: number, o: { once?: boolean }) => {
        const stop = stopSignal(ctx.io);
        try {
          for (;;) {
            let ttl: number;
            try {
              const r = await ctx.client().leaseKeepAliveOnce(id);
              ttl = r.TTL;
              if (ctx.format === 'json') ctx.json({ result: { header: gateway.encodeHeader(r.header), ID: String(r.ID), TTL: String(r.TTL) } });
            } catch (err) {
              if (!isLeaseNotFound(err)) throw err;
              ttl = 0;
            }
            if (ttl <= 0) {
              ctx.out.line(`lease ${leaseHex(id)} expired or revoked.`);
              return;
            }
            if (ctx.format !== 'json') ctx.out.line(`lease ${leaseHex(id)} keepalived with TTL(${ttl})`);
            ctx.out.flush(ctx.io.out);
            if (o.once) return;
            if (await sleep(Math.max(500, (ttl * 1000) / 3), stop.signal)) return;
          }
        } finally {
          stop.dispose();
        }
      }),
    );
  lease
    .command('list')
    .description('list all active leases')
    .action(
      run(async (ctx) => {
        const r = await ctx.client().leases();
        if (ctx.format === 'json') return ctx.json({ header: gateway.encodeHeader(r.header), leases: r.leases.map((l) => ({ ID: String(l.ID) })) });
        ctx.out.line(`found ${r.leases.length} leases`);
        for (const l of r.leases) ctx.out.line(leaseHex(l.ID));
      }),
    );

  // ---- member ---------------------------------------------------------------------------------
  const member = program.command('member').description('membership commands (ids in hex)');
  member
    .command('list')
    .description('list the members of the cluster')
    .action(
      run(async (ctx) => {
        const r = await ctx.client().memberList();
        if (ctx.format === 'json') return ctx.json({ header: gateway.encodeHeader(r.header), members: gateway.encodeMembers(r.members) });
        const rows = r.members.map(memberRow);
        if (ctx.format === 'table') {
          ctx.out.line(table(['ID', 'STATUS', 'NAME', 'PEER ADDRS', 'CLIENT ADDRS', 'IS LEARNER'], rows));
          return;
        }
        for (const row of rows) ctx.out.line(row.join(', '));
      }),
    );
  member
    .command('add')
    .description('add a member (as a learner with --learner)')
    .argument('<name>', 'name of the new member (for the printed configuration)')
    .requiredOption('--peer-urls <urls>', 'comma-separated peer URLs of the new member', parseUrlList)
    .option('--learner', 'add as a non-voting learner')
    .action(
      run(async (ctx, name: string, o: { peerUrls: string[]; learner?: boolean }) => {
        const r = await ctx.client().memberAdd(o.peerUrls, { learner: o.learner });
        if (ctx.format === 'json') return ctx.json({ header: gateway.encodeHeader(r.header), member: gateway.encodeMember(r.member), members: gateway.encodeMembers(r.members) });
        ctx.out.line(`Member ${hex(r.member.id)} added to cluster ${hex(r.header.clusterId)}`);
        const initial: string[] = [];
        for (const m of r.members) {
          const n = m.id === r.member.id ? name : m.name;
          if (n === '') continue;
          for (const u of m.peerURLs) initial.push(`${n}=${u}`);
        }
        ctx.out
          .line('')
          .line(`ETCD_NAME="${name}"`)
          .line(`ETCD_INITIAL_CLUSTER="${initial.join(',')}"`)
          .line(`ETCD_INITIAL_ADVERTISE_PEER_URLS="${r.member.peerURLs.join(',')}"`)
          .line('ETCD_INITIAL_CLUSTER_STATE="existing"');
      }),
    );
  member
    .command('remove')
    .description('remove a member')
    .argument('<id>', 'member id (hex)', parseHexId)
    .action(
      run(async (ctx, id: number) => {
        const r = await ctx.client().memberRemove(id);
        if (ctx.format === 'json') return ctx.json({ header: gateway.encodeHeader(r.header), members: gateway.encodeMembers(r.members) });
        ctx.out.line(`Member ${hex(id)} removed from cluster ${hex(r.header.clusterId)}`);
      }),
    );
  member
    .command('promote')
    .description('promote a learner to a voting member')
    .argument('<id>', 'member id (hex)', parseHexId)
    .action(
      run(async (ctx, id: number) => {
        const r = await ctx.client().memberPromote(id);
        if (ctx.format === 'json') return ctx.json({ header: gateway.encodeHeader(r.header), members: gateway.encodeMembers(r.members) });
        ctx.out.line(`Member ${hex(id)} promoted in cluster ${hex(r.header.clusterId)}`);
      }),
    );

  // ---- endpoint -------------------------------------------------------------------------------
  const endpoint = program.command('endpoint').description('endpoint commands');
  endpoint
    .command('status')
    .description('status of each endpoint (a table by default)')
    .option('--cluster', 'every member\'s client URLs instead of --endpoints')
    .action(
      run(async (ctx, o: { cluster?: boolean }) => {
        const eps = o.cluster ? await clusterEndpoints(ctx) : ctx.endpoints;
        const results = await Promise.all(
          eps.map((ep) =>
            ctx
              .clientFor(ep)
              .status()
              .then((s) => ({ ep, s, err: undefined }), (err: unknown) => ({ ep, s: undefined, err })),
          ),
        );
        const ok: { ep: string; s: MemberStatus }[] = [];
        for (const r of results) {
          if (r.s !== undefined) ok.push({ ep: r.ep, s: r.s });
          else {
            ctx.io.err.write(`Failed to get the status of endpoint ${r.ep} (${errMessage(r.err)})\n`);
            ctx.exitCode = 1;
          }
        }
        if (ctx.format === 'json') return ctx.json(ok.map(({ ep, s }) => ({ Endpoint: ep, Status: gateway.encodeStatus(s) })));
        const rows = ok.map(({ ep, s }) => [
          ep,
          hex(s.header.memberId),
          s.version,
          humanBytes(s.dbSize),
          String(s.leader !== 0 && s.leader === s.header.memberId),
          String(s.isLearner),
          String(s.raftTerm),
          String(s.raftIndex),
          String(s.raftAppliedIndex),
          s.errors.join(', '),
        ]);
        if (ctx.format === 'simple') {
          for (const row of rows) ctx.out.line(row.join(', '));
          return;
        }
        ctx.out.line(table(['ENDPOINT', 'ID', 'VERSION', 'DB SIZE', 'IS LEADER', 'IS LEARNER', 'RAFT TERM', 'RAFT INDEX', 'RAFT APPLIED INDEX', 'ERRORS'], rows));
      }),
    );
  endpoint
    .command('health')
    .description('check that each endpoint has a leader and serves a linearizable read')
    .option('--cluster', 'every member\'s client URLs instead of --endpoints')
    .action(
      run(async (ctx, o: { cluster?: boolean }) => {
        const eps = o.cluster ? await clusterEndpoints(ctx) : ctx.endpoints;
        const results = await Promise.all(
          eps.map(async (ep) => {
            const c = ctx.clientFor(ep);
            const t0 = performance.now();
            try {
              const h = await c.health();
              if (!h.health) throw new Error(h.reason || 'unhealthy');
              await c.get('health');
              return { endpoint: ep, health: true, took: goDuration(performance.now() - t0), error: '' };
            } catch (err) {
              return { endpoint: ep, health: false, took: goDuration(performance.now() - t0), error: errMessage(err) };
            }
          }),
        );
        if (ctx.format === 'json') ctx.json(results);
        for (const r of results) {
          if (r.health) {
            if (ctx.format !== 'json') ctx.out.line(`${r.endpoint} is healthy: successfully committed proposal: took = ${r.took}`);
          } else {
            ctx.io.err.write(`${r.endpoint} is unhealthy: failed to commit proposal: ${r.error}\n`);
          }
        }
        if (results.some((r) => !r.health)) throw new Error('unhealthy cluster');
      }),
    );

  // ---- snapshot -------------------------------------------------------------------------------
  const snapshot = program.command('snapshot').description('snapshot commands');
  snapshot
    .command('save')
    .description('save the state machine\'s snapshot to a file (written atomically)')
    .argument('<file>')
    .action(
      run(async (ctx, file: string) => {
        const bytes = await ctx.client().snapshot();
        await writeFileAtomic(file, bytes);
        if (ctx.format === 'json') return ctx.json({ file, bytes: bytes.length });
        ctx.out.line(`Snapshot saved at ${file}`);
      }),
    );

  return program;
}

// ---- helpers ----------------------------------------------------------------------------------

function printKv(out: Out, kv: KeyValue, o: { valueOnly?: boolean }): void {
  if (!o.valueOnly) out.line(kv.key);
  out.line(kv.value);
}

function printEvent(out: Out, e: WatchEvent): void {
  out.line(e.type);
  if (e.prevKv) printKv(out, e.prevKv, {});
  printKv(out, e.kv, {});
}

function memberRow(m: Member): string[] {
  return [hex(m.id), m.name === '' ? 'unstarted' : 'started', m.name, m.peerURLs.join(','), m.clientURLs.join(','), String(m.isLearner)];
}

async function clusterEndpoints(ctx: Ctx): Promise<string[]> {
  const r = await ctx.client().memberList();
  const eps = [...new Set(r.members.flatMap((m) => m.clientURLs))];
  if (eps.length === 0) throw new Error('no member has published client URLs');
  return eps;
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Aborts on io.signal, or else on SIGINT/SIGTERM. */
function stopSignal(io: KvIo): { signal: AbortSignal; dispose(): void } {
  if (io.signal) return { signal: io.signal, dispose: () => undefined };
  const ac = new AbortController();
  const onSignal = (): void => ac.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal: ac.signal,
    dispose: () => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    },
  };
}

/** Resolves true if aborted before `ms` elapsed. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(false);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(true);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** temp file in the same directory + fsync + rename + fsync of the directory. */
async function writeFileAtomic(file: string, data: Uint8Array): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.part`);
  const h = await open(tmp, 'w', 0o600);
  try {
    await h.writeFile(data);
    await h.sync();
  } catch (err) {
    await h.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  await h.close();
  await rename(tmp, file);
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } catch {
    // some platforms cannot fsync a directory
  } finally {
    await d.close();
  }
}
