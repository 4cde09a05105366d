import type { Command } from '../command-context.js'
import { ExitCode } from '../exit-codes.js'
import { unreachableShards } from '../unreachable-shards.js'
import { recoveryReportText } from './recovery-report-text.js'

/**
 * `shardtx recover`: one recovery round now. Recovery guesses nothing for a shard
 * it cannot reach, so it runs even when one is down, then exits 3; it exits 1
 * when branches remain in doubt (too young to judge, busy) or failed, else 0.
 */
export const recoverCommand: Command = async ({ cluster, out }) => {
  out.progress(`recovering in-doubt branches on ${cluster.shardIds.length} shards…`)
  const report = await cluster.recover()
  const unreachable = report.failed.length === 0 ? [] : await unreachableShards(cluster, report.failed.map((f) => f.shardId))
  out.result({ ...report, unreachable }, () => recoveryReportText(report, unreachable))
  if (unreachable.length > 0) return ExitCode.Unreachable
  return report.failed.length + report.skipped.length > 0 ? ExitCode.Failed : ExitCode.Ok
}
