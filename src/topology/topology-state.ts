import { randomBytes } from 'node:crypto'
import { ConfigError, ShardTxError, ShardUnavailableError } from '../errors.js'
import { describeShardError } from '../shard-error-text.js'
import type { Logger } from '../logger.js'
import { ringFor } from '../sharding/ring-cache.js'
import type { ShardRing } from '../sharding/index.js'
import type { EpochFence } from './epoch-fence.js'
import { MissingFenceTableError } from './missing-fence-table.js'
import type { MoveRouting, Routing } from './routing.js'
import { describeDiff, diffTopology, isSameTopology } from './topology-diff.js'
import type { TopologyStore } from './topology-store.js'
import { routedShards, type Topology, type TopologyShard } from './topology.js'

/**
 * `check` (default): at first use the configured shard set must equal the stored
 * one; `follow`: route by the stored topology whatever the configuration lists
 * (it must still say how to connect to every stored shard).
 *
 * ```ts
 * createCluster({ shards, topology: 'follow' })
 * ```
 */
export type TopologyMode = 'check' | 'follow'

export interface TopologyStateSettings {
  configured: TopologyShard[]
  /** The configured log shard: where the first load looks; a moved log is followed from there. */
  logShardId: string
  mode: TopologyMode
  /** The topology table on a shard that holds (or held) the log; any shard this process connects to. */
  storeOf(logShardId: string): TopologyStore
  fences: ReadonlyMap<string, EpochFence>
  /** Creates a shard's fence table (its fence migration), for a shard migrate() could not reach. */
  createFenceTable(shardId: string): Promise<void>
  /** How to route at an epoch in the middle of a resharding job (it reads the job's plan). */
  movingRing(topology: Topology): Promise<MoveRouting>
  logger: Logger
}

/**
 * One process's view of the stored topology. Loaded at first use (and stored, on
 * a cluster that has none), reloaded after a shard refused a branch as stale.
 * Routing reads {@link current} synchronously; only loading does I/O.
 */
export class TopologyState {
  readonly #settings: TopologyStateSettings
  /** The log shard in force: the configured one until a load followed a moved log (docs/moving-the-log.md). */
  #logShardId: string
  #store: TopologyStore
  #current: Routing
  #loading: Promise<Routing> | undefined
  /** The load that starts once the one in flight ends. */
  #queued: Promise<Routing> | undefined
  #loaded = false
  #checked = false
  /** Shards the last load could not give a fence row (down, or no fence table); tried again before their next branch. */
  readonly #unfenced = new Set<string>()

  constructor(settings: TopologyStateSettings) {
    this.#settings = settings
    this.#logShardId = settings.logShardId
    this.#store = settings.storeOf(settings.logShardId)
    const topology: Topology = { epoch: 0, shards: settings.configured, logShardId: settings.logShardId }
    this.#current = { topology, ring: ringFor(settings.configured), epoch: 0 }
  }

  /** The routing in force; the configured one (epoch 0) before the first load. */
  get current(): Routing {
    return this.#current
  }

  /**
   * The log shard in force: the decision log new transactions write to, the topology
   * and resharding tables. The configured one until a load found that the log moved.
   */
  get logShardId(): string {
    return this.#logShardId
  }

  /** The topology table on {@link logShardId}. */
  get store(): TopologyStore {
    return this.#store
  }

  /** Resolves once the stored topology is loaded (at once when it is). */
  ready(): Promise<Routing> | undefined {
    if (this.#loaded) return undefined
    // Any load will do here, one in flight included: the caller only needs some stored topology.
    return this.#loading ?? this.reload()
  }

  /**
   * Before the first branch on a shard the load could not fence: give it its row now
   * (at epoch 1 only, see #load), so that a shard back from an outage is not refused once.
   */
  fenceIfUnfenced(shardId: string): Promise<void> | undefined {
    if (!this.#unfenced.has(shardId) || this.#current.epoch !== 1) return undefined
    return this.#fenceAll([shardId], 1)
  }

  /** A shard said it is at another epoch: load the stored topology before the next transaction. */
  invalidate(): void {
    this.#loaded = false
  }

  /**
   * Loads the stored topology now: a load that starts after this call, so it sees
   * every change that committed before it (a mover reads the epoch it just
   * published). Callers while a load is in flight share the one queued after it.
   */
  reload(): Promise<Routing> {
    if (this.#loading !== undefined) {
      this.#queued ??= this.#loading
        .catch(() => undefined)
        .then(() => {
          this.#queued = undefined
          return this.reload()
        })
      return this.#queued
    }
    this.#loading = this.#load()
      .catch((error: unknown) => {
        // A driver error here is the log shard not answering: the same typed, retryable error a branch gives.
        if (error instanceof ShardTxError) throw error
        throw new ShardUnavailableError(this.#logShardId, `could not read the stored topology: ${describeShardError(error)}`, error)
      })
      .finally(() => {
        this.#loading = undefined
      })
    return this.#loading
  }

  /**
   * Routes by `topology` from now on (after this process changed it); `moved` is
   * required for an epoch in the middle of a resharding job.
   */
  adopt(topology: Topology, moved?: MoveRouting): Routing {
    this.#assertConnectable(topology)
    if (topology.move !== undefined && moved === undefined) throw new Error('a topology in the middle of a move needs its ring')
    const previous = this.#current.topology
    this.#current = { topology, ring: moved?.ring ?? ringFor(topology.shards), epoch: topology.epoch, moving: moved?.moving }
    this.#loaded = true
    if (previous.epoch !== 0 && previous.epoch !== topology.epoch) {
      this.#settings.logger.info({ from: previous.epoch, to: topology.epoch }, 'routing by a new topology epoch')
    }
    return this.#current
  }

  async #load(): Promise<Routing> {
    const { mode, configured } = this.#settings
    const stored = await this.#followLog((await this.#store.active()) ?? (await this.#storeFirst()))
    // A job in progress is checked against where it goes: a process configured for the
    // target set (or for the set before, while the job runs) is not a mistake.
    if (mode === 'check' && !this.#checked && !duringMoveMatches(stored, configured)) {
      const diff = diffTopology(stored.shards, configured)
      if (!isSameTopology(diff)) {
        throw new ConfigError(
          'shards',
          `differ from the topology stored on the log shard at epoch ${stored.epoch}: ${describeDiff(diff, 'the configuration', 'the stored topology')}. ` +
            "Change the stored topology with cluster.setTopology() or `shardtx topology set`, or set topology: 'follow' to route by the stored one",
        )
      }
    }
    this.#checked = true
    // Before any change, a shard the first process could not reach has no fence row (it refuses
    // every branch as epoch 0): give it one now. Only at epoch 1: a change writes every row it needs.
    if (stored.epoch === 1) await this.#fenceAll(stored.shards.map((s) => s.id), 1)
    return this.adopt(stored, stored.move === undefined ? undefined : await this.#settings.movingRing(stored))
  }

  /**
   * Inserts the fence row at `epoch` where a shard has none; a shard that cannot be
   * reached is left for later. The shards in parallel: each statement is bounded, and
   * one unreachable shard should cost the load one bound, not one per shard after it.
   */
  async #fenceAll(shardIds: string[], epoch: number): Promise<void> {
    await Promise.all(shardIds.map((id) => this.#fenceOne(id, epoch)))
  }

  async #fenceOne(id: string, epoch: number): Promise<void> {
    const fence = this.#settings.fences.get(id)!
    const logShardId = this.#logShardId
    let row
    try {
      row = await fence.bootstrap(epoch, logShardId).catch(async (error: unknown) => {
        if (!(error instanceof MissingFenceTableError)) throw error
        await this.#settings.createFenceTable(id)
        return fence.bootstrap(epoch, logShardId)
      })
    } catch (error) {
      this.#unfenced.add(id)
      this.#settings.logger.warn({ shardId: id, err: error }, 'could not give a shard its fence row yet; tried again before its next branch')
      return
    }
    this.#unfenced.delete(id)
    if (row.logShardId !== logShardId) {
      throw new ConfigError(`shards[${id}]`, `is fenced by the topology of log shard ${row.logShardId}, not ${logShardId}: it belongs to another cluster`)
    }
  }

  /**
   * The first process of a cluster stores its own shard set as epoch 1: fence rows
   * first (inserted only where missing), then the topology row, whose primary key
   * makes racing first processes agree on one of them.
   */
  async #storeFirst(): Promise<Topology> {
    const { configured } = this.#settings
    const logShardId = this.#logShardId
    const store = this.#store
    await this.#refuseForeignFences(configured.map((s) => s.id))
    await this.#fenceAll(configured.map((s) => s.id), 1)
    const first: Topology = { epoch: 1, shards: configured, logShardId }
    if (await store.claim(first, 'active', randomBytes(8).toString('hex'))) return first
    const stored = await store.active()
    if (stored === undefined) throw new ConfigError('log', 'the topology table holds a first change that was never published; run cluster.setTopology() to finish it')
    return stored
  }

  /**
   * Follows a moved log: a topology whose log shard is another one is the forward
   * pointer a log move leaves on the old log (docs/moving-the-log.md). Reads the
   * topology there, and from there on, at most {@link MAX_LOG_HOPS} times, refusing a
   * loop; then uses that log shard for everything (store, decisions, recovery).
   */
  async #followLog(found: Topology): Promise<Topology> {
    let stored = found
    let at = this.#logShardId
    const seen = [at]
    while (stored.logShardId !== at) {
      const next = stored.logShardId
      if (seen.includes(next) || seen.length > MAX_LOG_HOPS) {
        throw new ConfigError('log', `the stored topologies point from log shard to log shard in a loop or too far (${[...seen, next].join(' -> ')})`)
      }
      if (!this.#settings.fences.has(next)) {
        throw new ConfigError('shards', `the log moved from ${at} to ${next} (epoch ${stored.epoch}), which this process has no connection for`)
      }
      const there = await this.#settings
        .storeOf(next)
        .active()
        .catch((error: unknown) => {
          if (error instanceof ShardTxError) throw error
          throw new ShardUnavailableError(next, `could not read the stored topology (the log moved here from ${at}): ${describeShardError(error)}`, error)
        })
      if (there === undefined || there.epoch < stored.epoch) {
        // The move's commit reached the old log first; its rows on the new one are still prepared.
        throw new ShardUnavailableError(next, `the log moved here from ${at} at epoch ${stored.epoch}, and its topology is not readable here yet; try again`)
      }
      seen.push(next)
      at = next
      stored = there
    }
    if (at !== this.#logShardId) {
      this.#settings.logger.info({ from: this.#logShardId, to: at, epoch: stored.epoch }, 'the log moved: following it to its new shard')
      this.#logShardId = at
      this.#store = this.#settings.storeOf(at)
    }
    return stored
  }

  /**
   * Before storing a first topology, reads every fence: a shard fenced by another log
   * shard's topology belongs to a cluster whose log is elsewhere (another cluster, or
   * this one before its log moved here). Refused before anything is written.
   */
  async #refuseForeignFences(shardIds: string[]): Promise<void> {
    for (const id of shardIds) {
      const row = await this.#settings.fences
        .get(id)!
        .read()
        .catch(() => undefined)
      if (row !== undefined && row.logShardId !== this.#logShardId) {
        throw new ConfigError(
          'log',
          `${this.#logShardId} holds no topology, and shard ${id} is fenced by the topology of log shard ${row.logShardId}: ` +
            `configure log: '${row.logShardId}' (a process configured with the old log follows a moved one), or, to make ${this.#logShardId} the log shard, ` +
            `move the log there with cluster.moveLog('${this.#logShardId}') (\`shardtx topology move-log --to ${this.#logShardId}\`)`,
        )
      }
    }
  }

  #assertConnectable(topology: Topology): void {
    const configured = new Map(this.#settings.configured.map((s) => [s.id, s]))
    for (const shard of routedShards(topology)) {
      const known = configured.get(shard.id)
      if (known === undefined) {
        throw new ConfigError('shards', `the stored topology (epoch ${topology.epoch}) routes to shard ${shard.id}, which this process has no connection for`)
      }
      if (known.dialect !== shard.dialect) {
        throw new ConfigError('shards', `the stored topology (epoch ${topology.epoch}) says shard ${shard.id} is ${shard.dialect}; this process connects to it as ${known.dialect}`)
      }
    }
  }
}

/** How many times one load follows a moved log before it gives up. */
const MAX_LOG_HOPS = 8

/**
 * During a resharding job a process may be configured with the set before, the set
 * after, or both (it needs a connection to every shard of both to route): none of
 * them is a mistaken configuration.
 */
function duringMoveMatches(stored: Topology, configured: TopologyShard[]): boolean {
  if (stored.move === undefined) return false
  return [stored.move.from, routedShards(stored)].some((set) => isSameTopology(diffTopology(set, configured)))
}
