import type { Cluster } from '../cluster.js'
import type { ClusterOptions } from '../config/cluster-options.js'
import { ConfigError, ShardTxError } from '../errors.js'
import { type CommandName, parseCliArgs } from './cli-args.js'
import { CliOutput, type CliStreams } from './cli-output.js'
import type { Command } from './command-context.js'
import { inDoubtCommand } from './commands/in-doubt-command.js'
import { migrateCommand } from './commands/migrate-command.js'
import { recoverCommand } from './commands/recover-command.js'
import { resolveCommand } from './commands/resolve-command.js'
import { routeCommand } from './commands/route-command.js'
import { reshardCommand } from './commands/reshard-command.js'
import { statusCommand } from './commands/status-command.js'
import { topologyCommand } from './commands/topology-command.js'
import { ExitCode } from './exit-codes.js'
import { exitCodeOf } from './failure-exit.js'
import { HELP_TEXT } from './help-text.js'
import { loadConfig } from './load-config.js'

const COMMAND_RUNNERS: Record<CommandName, Command> = {
  status: statusCommand,
  'in-doubt': inDoubtCommand,
  recover: recoverCommand,
  resolve: resolveCommand,
  route: routeCommand,
  migrate: migrateCommand,
  topology: topologyCommand,
  reshard: reshardCommand,
}

/**
 * Runs one `shardtx` command line and resolves with its exit code; never throws.
 * Errors print as one line without a stack (unexpected ones get theirs with `--verbose`).
 */
export async function runCli(argv: string[], io: CliStreams & { cwd: string }): Promise<ExitCode> {
  const out = new CliOutput(io)
  // Known before parsing, so that even a usage error answers in JSON.
  out.mode = { ...out.mode, json: argv.includes('--json') }
  try {
    const args = parseCliArgs(argv)
    out.mode = { json: args.json, quiet: args.quiet, verbose: args.verbose }
    if (args.help || args.command === undefined) {
      out.line(HELP_TEXT.trimEnd())
      return ExitCode.Ok
    }
    const { options } = await loadConfig(args.config, io.cwd)
    out.redactor.learn(options)
    const clusterOptions = forTheCli(options, out)
    // Loaded only now: --help and usage mistakes answer without loading knex and the drivers.
    const { createCluster } = await import('../cluster.js')
    const cluster = createCluster(clusterOptions)
    try {
      return await COMMAND_RUNNERS[args.command]({
        cluster,
        options: clusterOptions,
        args,
        out,
        // createCluster's defaults: the first shard holds the log table `shardtx_log`.
        logShardId: clusterOptions.log ?? clusterOptions.shards[0]!.id,
        logTable: clusterOptions.logTable ?? 'shardtx_log',
        cwd: io.cwd,
      })
    } finally {
      await closeQuietly(cluster)
    }
  } catch (error) {
    return reportFailure(out, error)
  }
}

/**
 * The config's options as the CLI runs them: background recovery off (a command
 * runs recovery only when asked, with the config's other recovery settings), no
 * deadlock detection, and
 * the CLI's own stderr logger, so that stdout stays clean for `--json` and every
 * log line passes the redactor.
 */
function forTheCli(options: unknown, out: CliOutput): ClusterOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError('config', 'must be the createCluster options object (or a function returning it)')
  }
  const { logger: _replaced, recovery, ...rest } = options as ClusterOptions
  const isObject = typeof recovery === 'object' && recovery !== null && !Array.isArray(recovery)
  return {
    ...rest,
    logger: out.logger(),
    // Commands read the stored topology, whatever the config lists; `topology show` names the difference.
    topology: 'follow',
    // Anything else goes through as it is, for createCluster to reject with its own message.
    recovery: recovery === undefined ? { enabled: false } : isObject ? { ...recovery, enabled: false } : recovery,
    // A command runs no application transactions: no deadlock detector, no labels on its statements.
    deadlockTimeout: false,
  }
}

function reportFailure(out: CliOutput, error: unknown): ExitCode {
  const exitCode = exitCodeOf(error)
  const message = error instanceof Error ? error.message : String(error)
  const expected = error instanceof ShardTxError
  out.problem(`error: ${message}${expected || out.mode.verbose ? '' : ' (run with --verbose for the stack)'}`)
  // Stacks only for what no one expected: the bug reports want them, users' mistakes do not.
  if (!expected && out.mode.verbose && error instanceof Error && error.stack !== undefined) out.problem(error.stack)
  if (out.mode.json) {
    const code = error instanceof ShardTxError ? error.code : 'INTERNAL'
    out.result({ error: { code, message, exitCode } }, () => '')
  }
  return exitCode
}

async function closeQuietly(cluster: Cluster): Promise<void> {
  try {
    await cluster.close()
  } catch {
    // The command's own outcome is what the user needs; closing pools to a dead server may fail too.
  }
}
