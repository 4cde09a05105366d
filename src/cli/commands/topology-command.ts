import type { TopologyReport } from '../../topology/topology-report.js'
import { routedShards } from '../../topology/topology.js'
import type { Command, CommandContext } from '../command-context.js'
import { ExitCode } from '../exit-codes.js'
import { rethrowExplained } from '../failure-exit.js'
import { openTargetCluster } from '../target-cluster.js'
import { textTable } from '../text-table.js'

/**
 * `shardtx topology show`: the stored topology, a change left half-way, and each
 * shard's fence epoch; exits 1 when a fence disagrees with the stored epoch.
 * `shardtx topology set --to <config>`: makes the shards of `<config>` the topology
 * (see `cluster.setTopology()`); the command connects to the shards of both configs.
 * `shardtx topology move-log --to <shard>`: moves the decision log, the topology and
 * the resharding jobs to another shard of the topology (see `cluster.moveLog()`).
 */
export const topologyCommand: Command = async (context) => {
  const [verb] = context.args.positionals
  if (verb === 'set') return setTopology(context)
  if (verb === 'move-log') return moveLog(context)
  return showTopology(context)
}

async function showTopology({ cluster, out }: CommandContext): Promise<ExitCode> {
  const report = await cluster.topology()
  out.result({ topology: report }, () => render(report))
  // A routed shard's fence is the epoch of the last change of what it owns: never newer than
  // the stored epoch, and present (docs/resharding.md, "The fence rule").
  const unsound = report.fences.some((f) => isRouted(report, f.shardId) && (f.epoch === undefined || f.epoch > report.epoch))
  return report.pending !== undefined || unsound ? ExitCode.Failed : ExitCode.Ok
}

async function setTopology(context: CommandContext): Promise<ExitCode> {
  const { args, out } = context
  // Connections for every shard old and new: the change bumps the fence of each.
  const { cluster, target, close } = await openTargetCluster(context)
  try {
    out.progress(`changing the topology to ${target.map((s) => s.id).join(', ')}…`)
    // A failure that a shard not answering explains exits 3, as every command's does.
    const change = await cluster.setTopology(target, { allowEmptyMove: args.allowEmptyMove }).catch((error: unknown) => rethrowExplained(cluster, cluster.shardIds, error))
    out.result({ change }, () =>
      change.from.epoch === change.to.epoch
        ? `topology unchanged at epoch ${change.to.epoch}`
        : `topology epoch ${change.from.epoch} → ${change.to.epoch} (${change.attempts} attempt${change.attempts === 1 ? '' : 's'})\n\n${render({ ...change.to, pending: undefined, fences: [] })}`,
    )
    return ExitCode.Ok
  } finally {
    await close()
  }
}

async function moveLog({ cluster, args, out }: CommandContext): Promise<ExitCode> {
  const to = args.to!
  out.progress(`moving the log to ${to}…`)
  const move = await cluster.moveLog(to)
  out.result({ move }, () =>
    [
      `log shard ${move.from.logShardId} → ${move.to.logShardId}, topology epoch ${move.from.epoch} → ${move.to.epoch} (fences held and raised: ${move.fenced.join(', ')})`,
      `processes configured with log ${move.from.logShardId} follow it; configure log: '${move.to.logShardId}' from now on.`,
      `${move.from.logShardId} can now be removed like any shard (shardtx reshard start --to <config without it>).`,
    ].join('\n'),
  )
  return ExitCode.Ok
}

function isRouted(report: TopologyReport, shardId: string): boolean {
  return routedShards(report).some((s) => s.id === shardId)
}

function render(report: TopologyReport): string {
  const fences = new Map(report.fences.map((f) => [f.shardId, f]))
  const rows = routedShards(report).map((s) => {
    const fence = fences.get(s.id)
    return [s.id, s.dialect, String(s.weight), fence === undefined ? '-' : (fence.error ?? String(fence.epoch ?? 'none'))]
  })
  for (const fence of report.fences) if (!isRouted(report, fence.shardId)) rows.push([fence.shardId, '(not routed)', '-', String(fence.epoch ?? 'none')])
  const lines = [`epoch ${report.epoch}, log shard ${report.logShardId}`, '', textTable(['SHARD', 'DIALECT', 'WEIGHT', 'FENCE'], rows)]
  if (report.move !== undefined) {
    const { jobId, done, total, from } = report.move
    lines.push('', `resharding job ${jobId}: ${done} of ${total} batches done, from ${from.map((s) => s.id).join(', ')} to ${report.shards.map((s) => s.id).join(', ')}`)
  }
  if (report.pending !== undefined) {
    lines.push('', `a change to epoch ${report.pending.epoch} (${report.pending.shards.map((s) => s.id).join(', ')}) was claimed and not published: run topology set again to finish it`)
  }
  return lines.join('\n')
}
