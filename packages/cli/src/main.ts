/**
 * The `flotilla` command. Subcommands live one per file; this only dispatches.
 */
import { Command, CommanderError } from 'commander';
import { raftkvCommand } from './raftkv.js';
import { apiserverCommand } from './apiserver.js';
import { schedulerCommand } from './scheduler.js';
import { agentCommand } from './agent.js';
import { kvCommand } from './kv.js';
import { downCommand, upCommand } from './local-cluster.js';

export async function main(argv: string[]): Promise<number | undefined> {
  // `kv` has its own parser (etcdctl-like), so hand it the rest of the line untouched.
  if (argv[0] === 'kv') return kvCommand(argv.slice(1));
  const program = new Command('flotilla')
    .description('Flotilla: a small, highly available container orchestrator that speaks the Kubernetes API')
    .exitOverride()
    .addCommand(raftkvCommand())
    .addCommand(apiserverCommand())
    .addCommand(schedulerCommand())
    .addCommand(agentCommand())
    .addCommand(upCommand())
    .addCommand(downCommand());
  program.command('kv').description('talk to raftkv like etcdctl (run `flotilla kv --help`)');
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    throw err;
  }
  return undefined;
}
