import type { Cluster } from '../cluster.js'
import type { ClusterOptions } from '../config/cluster-options.js'
import type { CliArgs } from './cli-args.js'
import type { CliOutput } from './cli-output.js'
import type { ExitCode } from './exit-codes.js'

/**
 * What every command gets: the cluster opened from the config (background
 * recovery off), the parsed arguments, and the output.
 */
export interface CommandContext {
  cluster: Cluster
  /** The options `cluster` was created with: the config's, as the CLI runs them (see run-cli.ts). */
  options: ClusterOptions
  args: CliArgs
  out: CliOutput
  /** The log shard and log table the config names (or createCluster's defaults). */
  logShardId: string
  logTable: string
  /** The working directory relative paths on the command line are read from. */
  cwd: string
}

/**
 * One command: prints its result through `out` and resolves with its exit code;
 * throws for what `exitCodeOf` maps (usage mistakes, unreachable shards).
 */
export type Command = (context: CommandContext) => Promise<ExitCode>
