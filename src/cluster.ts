import { AsyncLocalStorage } from 'node:async_hooks'
import type { Knex } from 'knex'
import { createParticipant, epochFenceOf, laneLockOf } from '../adapters/index.js'
import { BackgroundRecovery } from './recovery/background-recovery.js'
import { type ClusterRuntime, participantOf } from './cluster-runtime.js'
import { type ClusterOptions, type ResolvedClusterConfig, resolveClusterOptions } from './config/cluster-options.js'
import { DecisionLogs } from './protocol/decision-logs.js'
import { ClosedError, isRetryable, ShardUnresponsiveError } from './errors.js'
import { withDeadline } from './protocol/deadline.js'
import type { EpochFence } from './topology/epoch-fence.js'
import { MissingFenceTableError } from './topology/missing-fence-table.js'
import { type InDoubtBranch, listInDoubtBranches, type ResolveOptions, resolveByHand } from './recovery/in-doubt.js'
import { silentLogger } from './logger.js'
import type { Participant } from './protocol/participant.js'
import type { RecoveryReport } from './recovery/recovery.js'
import { withRetry } from './transaction/retry.js'
import { runTransaction } from './transaction/run-transaction.js'
import { ShardedQuery } from './sharded-tables/sharded-query.js'
import { clusterAccess } from './sharded-tables/shard-access.js'
import { tableRouter } from './sharded-tables/table-router.js'
import { type MigrateShardsOptions, migrateShards, probeShards, type ShardMigrationStatus, type ShardStatus } from './shard-migrations/index.js'
import { type ClusterStats, StatsRecorder } from './stats.js'
import { stepReporter } from './protocol/step-reporter.js'
import { createTelemetry } from './observability/otel-telemetry.js'
import type { Transaction } from './transaction/transaction.js'
import { resolveTransactionOptions, type TransactionOptions } from './transaction/transaction-options.js'
import { functionOption } from './config/validate.js'
import { asUnavailable } from './shard-unavailable.js'
import { admitted } from './contention/admission-gate.js'
import { contentionStats, createContention } from './contention/contention.js'
import { type ClusterTopology, createClusterTopology } from './topology/cluster-topology.js'
import { migrateClusterTables, migrateLogShardTables } from './topology/migrate-topology.js'
import { type LogMove, moveLog, type MoveLogOptions } from './resharding/move-log.js'
import { setTopology, type SetTopologyOptions, type TopologyChange, type TopologyTarget } from './topology/set-topology.js'
import { readTopologyReport, type TopologyReport } from './topology/topology-report.js'
import { withTopology } from './topology/with-topology.js'
import { routeKey } from './topology/routing.js'
import type { ShardRing } from './sharding/index.js'
import { reshardTableOf, topologyTableOf } from './topology/table-names.js'
import { movingRings } from './resharding/moving-ring.js'
import { tableShapeOf } from '../adapters/table-shapes.js'
import type { ReshardContext } from './resharding/reshard-context.js'
import { cancel, planFor, reshard, reverse, status, unfreezeExpired } from './resharding/reshard-job.js'
import { resolveReshardOptions, type ReshardOptions } from './resharding/reshard-options.js'
import type { ReshardPlanReport } from './resharding/plan-reshard.js'
import type { ReshardProgress } from './resharding/reshard-progress.js'
import { ReshardStore } from './resharding/reshard-store.js'
import { type PlacementReport, verifyPlacement } from './resharding/verify-placement.js'
import { resolveVerifyOptions, type VerifyPlacementOptions } from './resharding/verify-options.js'
import { withBoundedKnex } from './protocol/with-bounded-knex.js'

/**
 * A set of shards that commit together. Make one per process with
 * {@link createCluster}; it owns a connection pool per shard.
 *
 * ```ts
 * const cluster = createCluster({ shards, log: 'pg-0' })
 * await cluster.migrate()
 * await cluster.transaction(async (tx) => {
 *   await tx.forKey('user:1')('accounts').where({ id: 1 }).decrement('balance', 5)
 *   await tx.forKey('user:2')('accounts').where({ id: 2 }).increment('balance', 5)
 * })
 * await cluster.close()
 * ```
 */
export class Cluster {
  readonly #config: ResolvedClusterConfig
  readonly #runtime: ClusterRuntime
  readonly #topology: ClusterTopology
  readonly #reshardStore: ReshardStore
  readonly #recovery: BackgroundRecovery
  readonly #context = new AsyncLocalStorage<Transaction>()
  #closed: Promise<void> | undefined
  readonly #closing = new AbortController()
  readonly #admissionWaited = (ms: number): void => this.#runtime.telemetry.admissionWaited(ms)
  /**
   * What a failed attempt (or resharding batch) says once close() overtook it before its
   * decision (its pools were going): ClosedError, not that a shard is unavailable, and
   * not retried. Retryable errors all come before the decision.
   */
  readonly #closedInstead = (error: unknown): unknown =>
    this.#closed !== undefined && isRetryable(error) ? new ClosedError('cluster', error) : error

  /** @internal Use {@link createCluster}. */
  constructor(options: ClusterOptions) {
    const config = resolveClusterOptions(options)
    const logger = (options.logger ?? silentLogger).child({ component: 'shardtx' })
    this.#config = config
    const participants = new Map<string, Participant>()
    for (const shard of config.shards) {
      participants.set(
        shard.id,
        createParticipant(shard.dialect, {
          shardId: shard.id,
          prefix: config.prefix,
          logTable: config.logTable,
          connection: shard.connection,
          pool: shard.pool,
          acquireTimeoutMs: config.maxWaitMs,
          connectTimeoutMs: config.connectTimeoutMs,
          keepAliveDelayMs: config.keepAliveDelayMs,
          timeouts: config.timeouts,
          logger,
        }),
      )
    }
    const telemetry = createTelemetry(config.shards, config.logShardId)
    const step = telemetry.observeSteps(stepReporter(config.onStep, options.logger === undefined ? undefined : logger))
    const reshardStore = new ReshardStore(reshardTableOf(config.logTable))
    const topology = createClusterTopology(config, participants, logger, (participant, table) => epochFenceOf(participant, table, config.timeouts.recoveryMs), movingRings(reshardStore, (read) => withBoundedKnex(participants.get(topology.state.logShardId)!, config.timeouts.recoveryMs, read)))
    const logs = new DecisionLogs(participants, logger, step, telemetry)
    this.#topology = topology
    this.#reshardStore = reshardStore
    this.#runtime = {
      config,
      participants,
      get log() {
        return logs.of(topology.state.logShardId)
      },
      logs,
      logger,
      stats: new StatsRecorder(),
      // The lane's lock is on the log shard in force when its session opens; its release is bounded like a COMMIT PREPARED.
      contention: createContention(
        config,
        participants,
        logger,
        (waitMs) => laneLockOf(participants.get(topology.state.logShardId)!, config.logTable, waitMs, config.timeouts.commitMs),
        () => topology.state.logShardId,
      ),
      telemetry,
      topology: topology.state,
      fenceLogOf: (shardId) => fenceLogOf(topology.fences.get(shardId)!, config.timeouts.recoveryMs),
      shardFor: (key) => routeKey(topology.state.current, key as string),
      routedShardIds: routedShardIdsOf(config.shards.map((s) => s.id), () => topology.state.current.ring),
      step,
      closing: this.#closing.signal,
    }
    this.#recovery = new BackgroundRecovery(this.#runtime, () => unfreezeExpired(this.#reshardContext()))
    if (config.recovery.enabled) this.#recovery.start()
  }

  /** Ids of the shards, in configuration order. */
  get shardIds(): string[] {
    return this.#config.shards.map((s) => s.id)
  }

  /** The shard that owns `key`, by the consistent-hash ring of the topology this process routes by. */
  shardFor(key: string | number | bigint | Uint8Array): string {
    this.#assertOpen()
    return this.#runtime.topology.current.ring.shardFor(key)
  }

  /**
   * The shard's own knex instance, outside any transaction (autocommit).
   *
   * ```ts
   * const rows = await cluster.forShard('pg-0')('accounts').select()
   * ```
   */
  forShard(shardId: string): Knex {
    this.#assertOpen()
    return participantOf(this.#runtime, shardId).knex
  }

  /**
   * A query builder on a table declared in `tables` that routes each statement
   * by the shard key, outside a transaction: reads run in autocommit (each shard
   * its own snapshot), a write to several shards runs in a transaction of its own.
   * Inside a `cluster.transaction` callback it joins that transaction.
   * See {@link ShardedQuery} and docs/sharded-tables.md.
   *
   * ```ts
   * const top = await cluster.table('accounts').orderBy('balance', 'desc').limit(10)
   * await cluster.table('accounts').insert([{ id: 1, balance: 0 }, { id: 2, balance: 0 }])
   * ```
   */
  table<TRow extends object = Record<string, any>>(name: string): ShardedQuery<TRow> {
    this.#assertOpen()
    return new ShardedQuery<TRow>(tableRouter(this.#runtime, name), clusterAccess(this))
  }

  /**
   * Runs `work` in a transaction across every shard it touches and commits it
   * atomically. Resolves with `work`'s value once committed; rejects with `work`'s
   * own error (unchanged) after rolling back, or with a typed error when the commit
   * fails: {@link TransactionAbortedError} (nothing committed) or
   * {@link TransactionInDoubtError} (recovery will settle it, atomically).
   */
  async transaction<T>(work: (tx: Transaction) => Promise<T> | T, options: TransactionOptions = {}): Promise<T> {
    this.#assertOpen()
    functionOption('transaction(work)', work)
    const resolved = resolveTransactionOptions(options, this.#config)
    // Inside a running transaction a nested call joins it: its work is part of the
    // outer unit, its errors reach the outer callback, which decides.
    const outer = resolved.independent ? undefined : this.currentTransaction()
    if (outer !== undefined) return await work(outer)
    const enter = this.#config.propagation
      ? (tx: Transaction, run: () => Promise<T>): Promise<T> => this.#context.run(tx, run)
      : (_tx: Transaction, run: () => Promise<T>): Promise<T> => run()
    // Every attempt waits for admission before its callback starts, so that no transaction holds a
    // connection while waiting for one; each carries the first attempt's start time, so that a
    // retried one ages into priority, in the queue and as a deadlock victim (docs/deadlocks.md).
    // Each attempt routes by the topology epoch current when it starts (docs/topology.md).
    const firstStartedAt = Date.now()
    const { gate } = this.#runtime.contention
    // One started inside another (independent: true) does not wait for the lane, whose turn the one around it may hold.
    const lane = this.#context.getStore() === undefined ? this.#runtime.contention.lane : undefined
    return withRetry(
      resolved.retry,
      (attempt) => {
        this.#assertOpen()
        return admitted(
          gate,
          lane,
          firstStartedAt,
          resolved.timeoutMs,
          resolved.signal,
          (admittedAt) => {
            // Admitted after close() began (it waited in the queue): the callback never starts.
            this.#assertOpen()
            // The timeout runs from admission: a wait for the lane since then counts in it (at most half).
            const leftMs = Math.max(1, Math.round(resolved.timeoutMs - (performance.now() - admittedAt)))
            return withTopology(this.#runtime.topology, resolved.timeoutMs, () =>
              runTransaction(this.#runtime, work, resolved, enter, firstStartedAt, attempt, leftMs),
            )
          },
          this.#admissionWaited,
        )
      },
      this.#closedInstead,
      // A backoff ends when the caller's signal aborts or close() begins: the next attempt then refuses at once.
      [resolved.signal, this.#runtime.closing],
    )
  }

  /**
   * The transaction running in the current async context, if any.
   *
   * ```ts
   * async function audit(cluster: Cluster, what: string) {
   *   await cluster.currentTransaction()?.forShard('pg-0')('audit').insert({ what })
   * }
   * ```
   */
  currentTransaction(): Transaction | undefined {
    const tx = this.#context.getStore()
    return tx?.state === 'active' ? tx : undefined
  }

  /**
   * Creates shardtx's own tables (knex migrations from `migrations/`): the log and
   * topology tables on the log shard (tracked in `<logTable>_migrations`) and the
   * epoch fence on every shard. Idempotent; upgrades an older schema in place.
   */
  async migrate(): Promise<void> {
    this.#assertOpen()
    // Every statement bounded: a shard that stopped answering fails the call (the log shard) or is skipped.
    await migrateClusterTables(this.#runtime.participants.values(), this.#topology.state.logShardId, this.#config.logTable, this.#runtime.logger, this.#config.timeouts.recoveryMs)
  }

  /**
   * The topology stored on the log shard (storing this process's shard set at
   * epoch 1 on a cluster that has none), a change that stopped half-way, and each
   * shard's fence epoch. See docs/topology.md.
   *
   * ```ts
   * const { epoch, shards } = await cluster.topology()
   * ```
   */
  async topology(): Promise<TopologyReport> {
    this.#assertOpen()
    const log = this.#runtime.participants.get(this.#topology.state.logShardId)!
    // The load is typed already; the read of a pending change after it is a plain query on the log shard.
    return readTopologyReport(this.#topology.state, this.#topology.fences).catch((error: unknown) => {
      throw asUnavailable(log, 'could not read the stored topology', error)
    })
  }

  /**
   * Changes the shard set every process routes by: add a shard, remove one, change
   * a weight. Bumps the epoch fence of every shard, then publishes the new epoch;
   * a process that routes by the old one is refused with a retryable
   * {@link StaleTopologyError} and reloads. This process needs a connection for
   * every old and new shard. See docs/topology.md.
   *
   * ```ts
   * await cluster.setTopology([...(await cluster.topology()).shards, { id: 'pg-2' }])
   * ```
   */
  async setTopology(target: TopologyTarget, options?: SetTopologyOptions): Promise<TopologyChange> {
    this.#assertOpen()
    return setTopology({ config: this.#config, participants: this.#runtime.participants, ...this.#topology }, target, options)
  }

  /**
   * Moves rows to a new shard set while the application runs: add, remove or
   * reweight shards. Starts a job towards `target` (or resumes the one in progress
   * towards the same target) and runs its batches until it is done; each batch is
   * one two-phase transaction that moves the rows of some slots from one shard to
   * another and switches their routing, fenced so that no process can write to the
   * old owner afterwards. The job is stored on the log shard: any process can
   * resume it. See docs/resharding.md.
   *
   * ```ts
   * await cluster.reshard([...(await cluster.topology()).shards, { id: 'pg-2' }], { onProgress: (p) => console.log(p.done, p.total) })
   * ```
   */
  async reshard(target: TopologyTarget, options?: ReshardOptions): Promise<ReshardProgress> {
    this.#assertOpen()
    // A batch that close() overtook fails as closed (the job stays resumable), not as a shard unavailable.
    return reshard(this.#reshardContext(), target, resolveReshardOptions(options)).catch((error: unknown) => {
      throw this.#closedInstead(error)
    })
  }

  /**
   * The dry run of {@link reshard}: slots moving, rows per table and shard (counted
   * now), the batches, and failed prerequisites. Writes nothing.
   *
   * ```ts
   * const { batches, rows, problems } = await cluster.reshardPlan(next)
   * ```
   */
  async reshardPlan(target: TopologyTarget, options?: Pick<ReshardOptions, 'batchSize'>): Promise<ReshardPlanReport> {
    this.#assertOpen()
    const resolved = resolveReshardOptions(options)
    return planFor(this.#reshardContext(), target, resolved.batchSize, resolved.batchTimeoutMs)
  }

  /**
   * Where the latest resharding job stands, or undefined when there never was one.
   *
   * ```ts
   * const job = await cluster.reshardStatus()
   * ```
   */
  async reshardStatus(): Promise<ReshardProgress | undefined> {
    this.#assertOpen()
    return status(this.#reshardContext())
  }

  /**
   * Stops the running job at its next batch boundary. Routing stays where the job
   * got to, which is as valid as any epoch; resume with {@link reshard} (same
   * target) or move the done batches back with {@link reverseReshard}.
   *
   * ```ts
   * await cluster.cancelReshard()
   * ```
   */
  async cancelReshard(): Promise<ReshardProgress> {
    this.#assertOpen()
    return cancel(this.#reshardContext())
  }

  /**
   * Moves the done batches of the latest job back (a cancelled, running or finished
   * job), then routes by the shard set before it.
   *
   * ```ts
   * await cluster.cancelReshard()
   * await cluster.reverseReshard()
   * ```
   */
  async reverseReshard(options?: ReshardOptions): Promise<ReshardProgress> {
    this.#assertOpen()
    return reverse(this.#reshardContext(), resolveReshardOptions(options))
  }

  /**
   * Checks that every row of every declared sharded table is on the shard that owns
   * its key, and gives per table, and per range of 1,024 slots, a row count and an
   * order-free checksum to compare across a reversed or repeated job
   * (`comparePlacementReports`). Reads page by page (`pageSize` rows by key
   * order, default 5 000), each page in a fenced transaction of its own, so memory
   * holds one page; `signal` stops it at a page boundary with `complete: false` and
   * a `cursor` that `resume` goes on from. When the topology changed between pages
   * (a job moved rows meanwhile) the counts are marked `comparable: false`.
   *
   * ```ts
   * const { misplaced, tables } = await cluster.verifyPlacement()
   * const after = await cluster.verifyPlacement({ pageSize: 2_000, onProgress: (r) => save(r) })
   * ```
   */
  async verifyPlacement(options?: VerifyPlacementOptions): Promise<PlacementReport> {
    this.#assertOpen()
    return verifyPlacement(this.#reshardContext(), resolveVerifyOptions(options))
  }

  /**
   * Moves the decision log, the stored topology and the resharding jobs to another
   * shard of the topology, as one fenced epoch change over every shard: after it,
   * transactions decide on the new log shard, processes configured with the old one
   * follow it there, and the old log shard can be removed by an ordinary
   * {@link reshard} or {@link setTopology}. Refused while a resharding job is in
   * progress. See docs/moving-the-log.md.
   *
   * ```ts
   * const { to } = await cluster.moveLog('my-0')
   * await cluster.reshard(to.shards.filter((s) => s.id !== 'pg-0'))
   * ```
   */
  async moveLog(toShardId: string, options?: MoveLogOptions): Promise<LogMove> {
    this.#assertOpen()
    const participants = this.#runtime.participants
    return moveLog(
      {
        ...this.#reshardContext(),
        storeOf: (shardId) => this.#topology.storeOf(shardId),
        createLogTables: (shardId) => migrateLogShardTables(participants.get(shardId)!, this.#config.logTable, this.#config.timeouts.recoveryMs),
      },
      toShardId,
      options,
    )
  }

  #reshardContext(): ReshardContext {
    const topology = this.#topology
    return {
      config: this.#config,
      participants: this.#runtime.participants,
      // Read at each use: the store follows a moved log.
      get topologyStore() {
        return topology.store
      },
      topologyTable: topologyTableOf(this.#config.logTable),
      fences: this.#topology.fences,
      state: this.#topology.state,
      store: this.#reshardStore,
      logger: this.#runtime.logger,
      shapeOf: tableShapeOf,
      transaction: (work, options) => this.transaction(work, { ...options, independent: true }),
    }
  }

  /**
   * Runs your knex migrations from `options.directory` on every shard, each with its
   * own migrations table, in lockstep (see {@link migrateShards}); resolves with each
   * shard's status, or throws {@link ShardMigrationError} saying where each shard stopped.
   *
   * ```ts
   * const statuses = await cluster.migrateShards({ directory: './migrations' })
   * ```
   */
  async migrateShards(options: MigrateShardsOptions): Promise<ShardMigrationStatus[]> {
    this.#assertOpen()
    return migrateShards([...this.#runtime.participants.values()], options)
  }

  /**
   * Checks every shard without changing anything: reachable, server version, ready for
   * two-phase commit, in-doubt branches, and the log table on the log shard.
   *
   * ```ts
   * const unhealthy = (await cluster.status()).filter((s) => s.problems.length > 0)
   * ```
   */
  async status(): Promise<ShardStatus[]> {
    this.#assertOpen()
    return probeShards([...this.#runtime.participants.values()], this.#topology.state.logShardId, this.#config.logTable, this.#config.timeouts.recoveryMs)
  }

  /** Runs one recovery round now: settles every in-doubt branch old enough to judge. */
  async recover(): Promise<RecoveryReport> {
    this.#assertOpen()
    return this.#recovery.runNow()
  }

  /** Lists our prepared branches on every shard, with their age and logged decision. */
  async inDoubt(): Promise<InDoubtBranch[]> {
    this.#assertOpen()
    return listInDoubtBranches(this.#runtime)
  }

  /**
   * Settles one in-doubt transaction by hand, through the same fence as recovery.
   * Refuses to contradict a logged decision, and refuses `commit` without a commit
   * record (under presumed abort such a transaction never committed). An id that no
   * shard holds a branch of and the log does not know is a {@link NoSuchInDoubtTransactionError}
   * (most often a mistyped id), unless `{ force: true }` asks to fence it with an abort record.
   *
   * ```ts
   * await cluster.resolve(txId, 'abort')
   * await cluster.resolve(idOfAHungProcess, 'abort', { force: true }) // it can never commit now
   * ```
   */
  async resolve(txId: string, decision: 'commit' | 'abort', options: ResolveOptions = {}): Promise<RecoveryReport> {
    this.#assertOpen()
    return resolveByHand(this.#runtime, txId, decision, options)
  }

  /** Counters since the cluster was created. */
  stats(): ClusterStats {
    return { ...this.#runtime.stats.snapshot(), ...contentionStats(this.#runtime.contention) }
  }

  /**
   * Stops background recovery, forgets pending commit records, and closes every pool,
   * within `timeouts.recovery` in all. Idempotent.
   */
  close(): Promise<void> {
    this.#closing.abort()
    this.#closed ??= (async () => {
      const rt = this.#runtime
      const by = Date.now() + rt.config.timeouts.recoveryMs
      // What can end gracefully, at once and until the bound at most: a recovery round told
      // to stop, the deadlock detector, the lane's session, forgetting decided transactions. One waiting on a
      // shard that stopped answering would otherwise hold close() its own bound, then the
      // pools theirs (seen: twice the bound with the log shard black-holed).
      const graceful = Promise.all([this.#recovery.stop(), rt.contention.detector?.stop(), rt.contention.lane?.close(), rt.logs.flush()]).catch(() => {})
      await withDeadline(graceful, by - Date.now(), () => new Error('close: graceful stop past the bound')).catch(() => {})
      // The pools with what is left: sockets still in use then are closed under their statements.
      await Promise.all([...rt.participants.values()].map((p) => p.close(Math.max(0, by - Date.now()))))
    })()
    return this.#closed
  }

  #assertOpen(): void {
    if (this.#closed !== undefined) throw new ClosedError('cluster')
  }
}

/**
 * Creates a cluster from its options; validates them all before connecting to anything.
 *
 * ```ts
 * const cluster = createCluster({
 *   shards: [
 *     { id: 'pg-0', dialect: 'postgres', connection: 'postgres://app@db0:5432/app' },
 *     { id: 'my-0', dialect: 'mysql', connection: { host: 'db1', user: 'app', database: 'app' } },
 *   ],
 * })
 * ```
 */
export function createCluster(options: ClusterOptions): Cluster {
  return new Cluster(options)
}

async function fenceLogOf(fence: EpochFence, ms: number): Promise<string | undefined> {
  const read = fence.read().catch((error: unknown) => {
    if (error instanceof MissingFenceTableError) return undefined
    throw error
  })
  return (await withDeadline(read, ms, () => new ShardUnresponsiveError(fence.shardId, 'reading its fence', ms)))?.logShardId
}

/** The configured shards the current ring routes to, worked out again only when the ring changes (every statement plan reads it). */
function routedShardIdsOf(configured: readonly string[], ring: () => ShardRing): () => readonly string[] {
  let seen: ShardRing | undefined
  let ids: readonly string[] = []
  return () => {
    const current = ring()
    if (current !== seen) {
      const routed = new Set(current.shards.map((s) => s.id))
      ids = configured.filter((id) => routed.has(id))
      seen = current
    }
    return ids
  }
}
