import type { ShardStatus } from '../../shard-migrations/shard-status.js'
import type { Command } from '../command-context.js'
import { ExitCode } from '../exit-codes.js'
import { textTable } from '../text-table.js'

/**
 * `shardtx status`: every shard's health from `cluster.status()`. Exits 3 when a
 * shard is unreachable, 1 when any other problem shows (not ready for two-phase
 * commit, in-doubt branches, no log table), else 0.
 */
export const statusCommand: Command = async ({ cluster, out }) => {
  out.progress(`checking ${cluster.shardIds.length} shards…`)
  const shards = await cluster.status()
  out.result({ shards }, () => render(shards))
  if (shards.some((s) => !s.reachable)) return ExitCode.Unreachable
  return shards.some((s) => s.problems.length > 0) ? ExitCode.Failed : ExitCode.Ok
}

function render(shards: ShardStatus[]): string {
  const table = textTable(
    ['SHARD', 'DIALECT', 'REACHABLE', 'SERVER', '2PC', 'IN-DOUBT', 'LOG TABLE'],
    shards.map((s) => [
      s.shardId,
      s.dialect,
      s.reachable ? 'yes' : 'NO',
      s.serverVersion === undefined ? '-' : shortVersion(s.serverVersion),
      s.twoPhaseReady === undefined ? '-' : s.twoPhaseReady ? 'ready' : 'NOT READY',
      s.inDoubt === undefined ? '-' : String(s.inDoubt),
      !s.logShard ? '-' : s.logTable === undefined ? '?' : s.logTable ? 'present' : 'MISSING',
    ]),
  )
  const problems = shards.flatMap((s) => s.problems.map((p) => `  ${s.shardId}: ${p}`))
  return problems.length === 0 ? `${table}\n\nall shards ready` : `${table}\n\nproblems:\n${problems.join('\n')}`
}

/** `PostgreSQL 15.18 (Debian …) on x86_64…, compiled by …` → `PostgreSQL 15.18`; JSON keeps it whole. */
function shortVersion(version: string): string {
  return version.split(/ \(| on |,/)[0]!
}
