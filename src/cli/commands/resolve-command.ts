import type { RecoveryReport } from '../../recovery/recovery.js'
import { CliUsageError } from '../cli-errors.js'
import type { Command } from '../command-context.js'
import { ExitCode } from '../exit-codes.js'
import { rethrowExplained } from '../failure-exit.js'
import { unreachableShards } from '../unreachable-shards.js'
import { recoveryReportText } from './recovery-report-text.js'

/**
 * `shardtx resolve <txId> commit|abort`: settles one in-doubt transaction by hand
 * through `cluster.resolve()`, which refuses to contradict a logged decision (exit 1),
 * and an id no shard holds a branch of and the log does not know ("no such in-doubt
 * transaction", exit 1) unless `--force` asks to fence it.
 * Exits 3 when a shard holding a branch could not be reached: it is settled later
 * by recovery, by the decision now on record.
 */
export const resolveCommand: Command = async ({ cluster, args, out }) => {
  const [txId, decision] = args.positionals as [string, string]
  if (decision !== 'commit' && decision !== 'abort') {
    throw new CliUsageError(`the decision must be commit or abort, not "${decision}"`)
  }
  out.progress(`resolving ${txId} as ${decision}…`)
  let report: RecoveryReport
  try {
    report = await cluster.resolve(txId, decision, { force: args.force })
  } catch (error) {
    return rethrowExplained(cluster, cluster.shardIds, error)
  }
  const unreachable = report.failed.length === 0 ? [] : await unreachableShards(cluster, report.failed.map((f) => f.shardId))
  out.result({ txId, decision, ...report, unreachable }, () => recoveryReportText(report, unreachable))
  if (unreachable.length > 0) return ExitCode.Unreachable
  return report.failed.length + report.skipped.length > 0 ? ExitCode.Failed : ExitCode.Ok
}
