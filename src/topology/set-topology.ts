import { randomBytes } from 'node:crypto'
import type { ResolvedClusterConfig } from '../config/cluster-options.js'
import { ConfigError, ShardTxError, TopologyChangeBlockedError } from '../errors.js'
import type { Participant } from '../protocol/participant.js'
import { ringFor } from '../sharding/ring-cache.js'
import { diffRings } from '../sharding/index.js'
import { validateShards } from '../sharding/shard-spec.js'
import { plainObject, rejectUnknownKeys } from '../config/validate.js'
import { resolveSetTopologyOptions, type SetTopologyOptions, type TopologyStepEvent } from './set-topology-options.js'
import { type EpochFence, type HeldFence, isHeld } from './epoch-fence.js'
import { findMisplacedRows, type StrandedRows } from './misplaced-rows.js'
import { describeDiff, diffTopology, isSameTopology, type TopologyDiff } from './topology-diff.js'
import type { TopologyState } from './topology-state.js'
import { routingSet, type Topology, type TopologyShard } from './topology.js'

/**
 * The shard set to route by after the change. `dialect` defaults to the one this
 * process connects to the shard with; `weight` to 1.
 *
 * ```ts
 * await cluster.setTopology([{ id: 'pg-0' }, { id: 'pg-1', weight: 2 }, { id: 'my-0' }])
 * ```
 */
export type TopologyTarget = readonly { id: string; dialect?: TopologyShard['dialect']; weight?: number }[]

export type { SetTopologyOptions, TopologyStepEvent } from './set-topology-options.js'

/**
 * What a topology change did.
 *
 * ```ts
 * const { from, to, diff, attempts } = await cluster.setTopology(next)
 * ```
 */
export interface TopologyChange {
  from: Topology
  to: Topology
  diff: TopologyDiff
  /** Tries at taking every fence; more than 1 means branches or prepared branches held some. */
  attempts: number
}

export interface TopologyChangeContext {
  config: ResolvedClusterConfig
  participants: ReadonlyMap<string, Participant>
  fences: ReadonlyMap<string, EpochFence>
  state: TopologyState
}

/**
 * Changes the stored topology (see docs/topology.md, "Changing the topology"):
 *
 * 1. **Claim** epoch N+1 as pending (a compare-and-set on the topology table's key).
 * 2. **Hold every fence**: take each shard's fence exclusively, old and new shards,
 *    in id order, each wait bounded by `lockWaitMs`. If one cannot be taken, release
 *    them all, back off, and try again until `timeoutMs`. Nothing changes before all
 *    are held, so giving up leaves the cluster as it was.
 * 3. **Raise every fence to N+1** and commit each. From the first commit on, that
 *    shard refuses epoch N; no process routes by N+1 yet (it is not published), so
 *    until step 4 no shard accepts two epochs' writers, and no key has two owners
 *    accepting writes.
 * 4. **Publish** N+1: processes that a shard refused reload it and route by it.
 */
export async function setTopology(
  ctx: TopologyChangeContext,
  target: TopologyTarget,
  input?: SetTopologyOptions,
): Promise<TopologyChange> {
  const options = resolveSetTopologyOptions(input)
  const { lockWaitMs, timeoutMs } = options
  const from = (await ctx.state.reload()).topology
  // After the load: it may have followed a moved log (docs/moving-the-log.md).
  const store = ctx.state.store
  if (from.move !== undefined) {
    throw new ConfigError('topology', `resharding job ${from.move.jobId} is in progress: finish it (cluster.reshard with its target), or cancel and reverse it, before another change`)
  }
  const shards = resolveTarget(ctx, target, from.logShardId)
  const diff = diffTopology(from.shards, shards)
  if (isSameTopology(diff)) return { from, to: from, diff, attempts: 0 }
  const to: Topology = { epoch: from.epoch + 1, shards, logShardId: from.logShardId }
  const involved = [...new Set([...from.shards, ...shards].map((s) => s.id))].sort()
  const losing = losingShards(ctx, from, to)
  await checkMoves(ctx, losing, to, options.allowEmptyMove)

  const step = async (event: TopologyStepEvent): Promise<void> => {
    await options.onStep?.(event)
  }
  const claim = randomBytes(8).toString('hex')
  await step({ step: 'claim', epoch: to.epoch })
  if (!(await store.claim(to, 'pending', claim)) && !(await store.takeOver(to.epoch, shards, claim))) {
    throw new TopologyChangeBlockedError(`another change published epoch ${to.epoch} meanwhile; read the topology and run the change again`, [])
  }
  // A shard new to the cluster gets a fence row at epoch 0, which no process routes by.
  for (const id of involved) await fenceOf(ctx, id).bootstrap(0, from.logShardId)

  const deadline = performance.now() + timeoutMs
  let attempts = 0
  for (;;) {
    attempts++
    const held = await holdAll(ctx, involved, lockWaitMs, (shardId) => step({ step: 'hold', epoch: to.epoch, shardId }))
    if (!('blockers' in held)) {
      if (losing.length > 0 && options.allowEmptyMove) {
        // Every fence is held: no branch can write a row into a moving slot between this look and the change.
        const misplaced = await findMisplacedRows(ctx.config.tables, losing, ringFor(to.shards), ctx.config.timeouts.recoveryMs).catch(async (error: unknown) => {
          await releaseAll(held)
          throw error
        })
        if (misplaced.length > 0) {
          await releaseAll(held)
          throw refusedMove(misplaced)
        }
      }
      await raiseAll(held, to, (shardId) => step({ step: 'raise', epoch: to.epoch, shardId }))
      break
    }
    if (performance.now() >= deadline) {
      throw new TopologyChangeBlockedError(`could not hold every shard's fence within ${timeoutMs} ms (${attempts} attempts)`, held.blockers)
    }
    await backoff(attempts, deadline)
  }
  await step({ step: 'publish', epoch: to.epoch })
  if (!(await store.publish(to.epoch, claim))) {
    throw new TopologyChangeBlockedError(
      `another change took over epoch ${to.epoch} before it was published; the fences are at ${to.epoch} and that change publishes it`,
      [],
    )
  }
  ctx.state.adopt(to)
  return { from, to, diff, attempts }
}

export function resolveTarget(ctx: Pick<TopologyChangeContext, 'participants'>, target: TopologyTarget, logShardId: string): TopologyShard[] {
  if (!Array.isArray(target) || target.length === 0) throw new ConfigError('topology', 'must list at least one shard as { id, dialect?, weight? }')
  // Every entry an object with known keys (a misspelt weight must not pass as the default);
  // Array.from, not map: a hole in a sparse array is a missing entry, refused as one.
  const entries = Array.from(target as unknown[], (entry, i) => {
    const shard = plainObject(`topology[${i}]`, entry, '{ id, dialect?, weight? }')
    rejectUnknownKeys(`topology[${i}]`, shard, ['id', 'dialect', 'weight'])
    return shard as TopologyTarget[number]
  })
  // The ring's own rules for ids and weights (range, duplicates), before anything is stored.
  validateShards(entries.map(({ id, weight }) => ({ id, weight })), 'topology')
  const shards = entries.map((shard, i) => {
    const participant = ctx.participants.get(shard.id)
    if (participant === undefined) {
      throw new ConfigError(`topology[${i}].id`, `no connection for shard "${shard.id}" in this process's shards (${[...ctx.participants.keys()].join(', ')})`)
    }
    if (shard.dialect !== undefined && shard.dialect !== participant.dialect) {
      throw new ConfigError(`topology[${i}].dialect`, `shard ${shard.id} is ${participant.dialect} in this process's shards, not ${shard.dialect}`)
    }
    return { id: shard.id, dialect: participant.dialect, weight: shard.weight ?? 1 }
  })
  if (!shards.some((s) => s.id === logShardId)) {
    throw new ConfigError('topology', logShardRemoved(logShardId))
  }
  return routingSet(shards)
}

/**
 * The refusal of a change that removes the log shard, naming the operation that
 * does: moving the log (docs/moving-the-log.md).
 */
export function logShardRemoved(logShardId: string): string {
  return (
    `must keep the log shard ${logShardId}: the decision log and the topology live there. ` +
    'Move the log to another shard first with cluster.moveLog(<shard>) (`shardtx topology move-log --to <shard>`), then remove it'
  )
}

/** Shards that own fewer slots after the change, a removed shard included: where rows would be stranded. */
function losingShards(ctx: TopologyChangeContext, from: Topology, to: Topology): Participant[] {
  const losing = new Set(diffRings(ringFor(from.shards), ringFor(to.shards)).map((move) => move.from))
  return [...losing].sort().map((id) => ctx.participants.get(id)!)
}

async function checkMoves(ctx: TopologyChangeContext, losing: Participant[], to: Topology, allowEmptyMove: boolean): Promise<void> {
  const sharded = [...ctx.config.tables.values()].filter((t) => t.kind === 'sharded').map((t) => t.name)
  if (losing.length === 0 || sharded.length === 0) return
  if (!allowEmptyMove) {
    throw new ConfigError(
      'topology',
      `the change moves slots away from ${losing.map((p) => p.shardId).join(', ')} and ${sharded.join(', ')} ${sharded.length === 1 ? 'is' : 'are'} declared sharded: ` +
        'existing rows would stay on a shard that no longer owns them. Move them with cluster.reshard() (`shardtx reshard start`), ' +
        'or pass allowEmptyMove (`--allow-empty-move`) once those tables hold no rows in the moving slots',
    )
  }
  const misplaced = await findMisplacedRows(ctx.config.tables, losing, ringFor(to.shards), ctx.config.timeouts.recoveryMs)
  if (misplaced.length > 0) throw refusedMove(misplaced)
}

function refusedMove(misplaced: StrandedRows[]): ConfigError {
  const where = misplaced.map((m) => `${m.rows} row(s) of ${m.table} on ${m.shardId} (e.g. key ${m.example})`).join('; ')
  return new ConfigError('topology', `the change would strand rows in moving slots: ${where}; move them with cluster.reshard() (\`shardtx reshard start\`)`)
}

function fenceOf(ctx: TopologyChangeContext, shardId: string): EpochFence {
  return ctx.fences.get(shardId)!
}

/** Takes the fences one by one in id order (so two changes never wait on each other in a cycle). */
async function holdAll(
  ctx: TopologyChangeContext,
  ids: string[],
  lockWaitMs: number,
  step: (shardId: string) => Promise<void>,
): Promise<{ shardId: string; fence: HeldFence }[] | { blockers: string[] }> {
  const held: { shardId: string; fence: HeldFence }[] = []
  for (const id of ids) {
    let result
    try {
      await step(id)
      result = await fenceOf(ctx, id).lock(lockWaitMs)
    } catch (error) {
      await releaseAll(held)
      throw error
    }
    if (!isHeld(result)) {
      await releaseAll(held)
      return result
    }
    held.push({ shardId: id, fence: result })
  }
  return held
}

async function releaseAll(held: { fence: HeldFence }[]): Promise<void> {
  await Promise.all(held.map((h) => h.fence.release().catch(() => {})))
}

/** One shard after another, in id order: a crash in between leaves a prefix raised (docs/topology.md). */
async function raiseAll(held: { shardId: string; fence: HeldFence }[], to: Topology, step: (shardId: string) => Promise<void>): Promise<void> {
  const results: PromiseSettledResult<void>[] = []
  for (const { shardId, fence } of held) {
    results.push(
      await step(shardId)
        .then(
          () => fence.commit(to.epoch, to.logShardId),
          // The hook failed before this shard's raise: its fence is let go unraised, not left held.
          async (error: unknown) => {
            await fence.release().catch(() => {})
            throw error
          },
        )
        .then(
          () => ({ status: 'fulfilled', value: undefined }) as const,
          (reason: unknown) => ({ status: 'rejected', reason }) as const,
        ),
    )
  }
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed.length > 0) {
    throw new ShardTxError(
      `topology change to epoch ${to.epoch} raised only some fences (${failed.length} of ${held.length} failed); ` +
        'the shards already at the new epoch refuse every process until the change is run again (same or another target)',
      { code: 'TOPOLOGY_CHANGE_INCOMPLETE', cause: failed[0]!.reason },
    )
  }
}

export async function backoff(attempt: number, deadline: number): Promise<void> {
  const ms = Math.min(500, 10 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2)
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(ms, deadline - performance.now()))))
}
