import type { InDoubtBranch } from '../../recovery/in-doubt.js'
import type { Command } from '../command-context.js'
import { ExitCode } from '../exit-codes.js'
import { rethrowExplained } from '../failure-exit.js'
import { formatAge, textTable } from '../text-table.js'

/**
 * `shardtx in-doubt`: our prepared branches on every shard, oldest first.
 * Exits 1 when there are any (a monitoring probe), 0 when none, 3 when a shard
 * cannot be listed because it is unreachable.
 */
export const inDoubtCommand: Command = async ({ cluster, out }) => {
  let branches: InDoubtBranch[]
  try {
    branches = await cluster.inDoubt()
  } catch (error) {
    return rethrowExplained(cluster, cluster.shardIds, error)
  }
  out.result({ branches }, () =>
    branches.length === 0
      ? 'no in-doubt branches'
      : textTable(
          ['TX ID', 'SHARD', 'AGE', 'DECISION'],
          branches.map((b) => [b.txId, b.shardId, formatAge(b.ageMs), b.decision ?? 'none yet (presumed abort once abandoned)']),
        ),
  )
  return branches.length > 0 ? ExitCode.Failed : ExitCode.Ok
}
