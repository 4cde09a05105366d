import type { ShardTxError } from '../errors.js'
import type { Logger } from '../logger.js'
import { findDeadlocks } from './cycle-finder.js'
import { DistributedDeadlockError } from './distributed-deadlock-error.js'
import type { LockWait, LockWaitSource } from '../protocol/participant.js'
import { waitForGraph } from './wait-for-graph.js'

/** What the detector needs of a running transaction of this process. */
export interface DetectableTransaction {
  readonly id: string
  /** Its opened branches: shard, server session, and since when (performance.now) a statement runs there. */
  sessions(): { shardId: string; session: string; busySince: number | undefined }[]
  /** Fails it from outside: running statements are cancelled, new ones refused. */
  abort(reason: ShardTxError): void
}

/**
 * Deadlock counters of one cluster, in `cluster.stats().deadlocks`.
 *
 * ```ts
 * const { victims, rounds } = cluster.stats().deadlocks
 * ```
 */
export interface DeadlockStats {
  /** False when `deadlockTimeout: false`, or before the probe (at the first transaction) finished. */
  enabled: boolean
  /** Shards whose lock waits the detector reads. */
  shards: string[]
  /** Times the detector read the servers' lock waits. */
  rounds: number
  /** Transactions of this process aborted as the victim of a distributed deadlock. */
  victims: number
  /** From a victim's statement being sent to its abort, over the last 256 victims. */
  waitToVictimMs: { p50Ms: number | undefined; maxMs: number | undefined }
}

const WAIT_WINDOW = 256

type Probe = 'pending' | 'ok' | 'denied'

/** A session of this process whose statement has run longer than deadlockTimeout. */
interface Suspect {
  shardId: string
  session: string
}

/**
 * Breaks lock cycles that span shards. While any transaction of this process
 * runs, a timer looks every `deadlockTimeout / 2` for a statement that has run
 * longer than `deadlockTimeout`; only then does it read the shards' lock waits
 * (one bounded query each, its own shard first), build the wait-for graph across shards and processes
 * from the labels transactions leave, and abort the victim of each cycle, the
 * youngest, if it belongs to this process. Every detector picks the same victim,
 * so when several processes see one cycle exactly one transaction falls. A
 * transaction that never waits costs nothing but its entry in a set.
 * See docs/deadlocks.md.
 */
export class DeadlockDetector {
  readonly #sources: ReadonlyMap<string, LockWaitSource>
  readonly #timeoutMs: number
  readonly #boundMs: number
  readonly #logger: Logger
  readonly #running = new Set<DetectableTransaction>()
  readonly #probes = new Map<string, Probe>()
  readonly #aborted = new WeakSet<DetectableTransaction>()
  #timer: NodeJS.Timeout | undefined
  #round: Promise<void> | undefined
  #lastRoundAt = -Infinity
  #rounds = 0
  #victims = 0
  readonly #waits: number[] = []
  #stopped = false
  #probed = false

  constructor(sources: ReadonlyMap<string, LockWaitSource>, deadlockTimeoutMs: number, logger: Logger) {
    this.#sources = sources
    this.#timeoutMs = deadlockTimeoutMs
    // A shard that does not answer must not hold the detector: every query has this bound.
    this.#boundMs = Math.max(1_000, 2 * deadlockTimeoutMs)
    this.#logger = logger
    for (const shardId of sources.keys()) this.#probes.set(shardId, 'pending')
  }

  /**
   * Watches `tx` while it runs; call the returned function when it ends. The first
   * transaction also starts the probe: once per shard, in the background, a check
   * that lock waits can be read, with a warning where not. (Not at construction: a
   * cluster used for no transaction, such as the CLI's, opens no connection for it.)
   */
  track(tx: DetectableTransaction): () => void {
    if (!this.#probed) {
      this.#probed = true
      void this.#probeAll()
    }
    this.#running.add(tx)
    if (this.#timer === undefined && !this.#stopped) {
      this.#timer = setInterval(() => this.#tick(), Math.max(5, this.#timeoutMs / 2))
      this.#timer.unref()
    }
    return () => this.#running.delete(tx)
  }

  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    await this.#round
  }

  stats(): DeadlockStats {
    const shards = [...this.#probes].filter(([, probe]) => probe === 'ok').map(([shardId]) => shardId)
    const waits = [...this.#waits].sort((a, b) => a - b)
    return {
      enabled: shards.length > 0,
      shards,
      rounds: this.#rounds,
      victims: this.#victims,
      waitToVictimMs: { p50Ms: waits[Math.floor(waits.length / 2)], maxMs: waits[waits.length - 1] },
    }
  }

  async #probeAll(): Promise<void> {
    await Promise.all([...this.#sources].map(([shardId, source]) => this.#probe(shardId, source)))
  }

  async #probe(shardId: string, source: LockWaitSource): Promise<void> {
    if (this.#stopped || this.#probes.get(shardId) !== 'pending') return
    try {
      const denied = await source.probe(this.#boundMs)
      this.#probes.set(shardId, denied === undefined ? 'ok' : 'denied')
      if (denied !== undefined) {
        this.#logger.warn(
          { shardId, reason: denied },
          'distributed deadlock detection cannot read lock waits on this shard: cycles through it end by lock timeouts only',
        )
      }
    } catch (error) {
      // Unreachable now: stays pending, and the next round asks again.
      this.#logger.debug({ err: error, shardId }, 'could not probe lock waits; will try again')
    }
  }

  #tick(): void {
    if (this.#running.size === 0) {
      clearInterval(this.#timer)
      this.#timer = undefined
      return
    }
    if (this.#round !== undefined) return
    const now = performance.now()
    let due = false
    const suspects: Suspect[] = []
    for (const tx of this.#running) {
      for (const { shardId, session, busySince } of tx.sessions()) {
        if (busySince === undefined || now - busySince < this.#timeoutMs) continue
        suspects.push({ shardId, session })
        // A statement that waited before the last round was already looked at: look
        // again once per deadlockTimeout, not on every tick (it may just be slow).
        if (busySince + this.#timeoutMs > this.#lastRoundAt || now - this.#lastRoundAt >= this.#timeoutMs) due = true
      }
    }
    if (!due) return
    this.#lastRoundAt = now
    this.#round = this.#detect(suspects)
      .catch((error: unknown) => this.#logger.warn({ err: error }, 'a deadlock detection round failed'))
      .finally(() => {
        this.#round = undefined
      })
  }

  /**
   * One round: first the shards where this process's statements run long; only if
   * one of them is in a lock wait there, every other shard (a statement that is
   * merely slow costs one query per round, on its own shard).
   */
  async #detect(suspects: Suspect[]): Promise<void> {
    this.#rounds++
    const local = new Map<string, Map<string, string>>()
    const byId = new Map<string, DetectableTransaction>()
    for (const tx of this.#running) {
      byId.set(tx.id, tx)
      for (const { shardId, session } of tx.sessions()) {
        let sessions = local.get(shardId)
        if (sessions === undefined) local.set(shardId, (sessions = new Map()))
        sessions.set(session, tx.id)
      }
    }
    const waits = new Map<string, LockWait[]>()
    const suspectShards = new Set(suspects.map((s) => s.shardId))
    await this.#read([...suspectShards], waits)
    const lockWaiting = suspects.some((s) => waits.get(s.shardId)?.some((w) => w.waiter === s.session))
    if (!lockWaiting) return
    await this.#read([...this.#sources.keys()].filter((id) => !suspectShards.has(id)), waits)
    const now = performance.now()
    for (const { victim, cycle } of findDeadlocks(waitForGraph(waits, local))) {
      const tx = byId.get(victim)
      // Only the victim's own process aborts it: the others see the same cycle and the same victim.
      if (tx === undefined || !this.#running.has(tx) || this.#aborted.has(tx)) continue
      const waiting = tx.sessions().find((s) => s.shardId === cycle[0]?.shardId)?.busySince
      if (waiting === undefined) continue
      this.#victims++
      this.#aborted.add(tx)
      const otherProcesses = cycle.some((edge) => !byId.has(edge.waiter) || !byId.has(edge.blocker))
      const error = new DistributedDeadlockError(victim, cycle, now - waiting, otherProcesses)
      this.#waits[(this.#victims - 1) % WAIT_WINDOW] = error.waitedMs
      this.#logger.info({ txId: victim, cycle }, 'aborting the victim of a distributed deadlock')
      tx.abort(error)
    }
  }

  /**
   * Reads the lock waits of `shardIds` into `into`. Shards whose sources show one
   * server-wide view (MariaDB shards on one server) are read once, and not at all
   * when `into` already holds that view from earlier in the round: the rows would
   * be the same, and each read of InnoDB's view waits for a read window
   * (adapters/mysql/innodb-view-window.ts).
   */
  async #read(shardIds: string[], into: Map<string, LockWait[]>): Promise<void> {
    const byView = new Map<string, string[]>()
    for (const shardId of shardIds) {
      const key = this.#sources.get(shardId)?.view ?? `shard:${shardId}`
      const ids = byView.get(key)
      if (ids === undefined) byView.set(key, [shardId])
      else ids.push(shardId)
    }
    await Promise.all(
      [...byView].map(async ([key, ids]) => {
        for (const shardId of ids) if (this.#probes.get(shardId) === 'pending') await this.#probe(shardId, this.#sources.get(shardId)!)
        const readable = ids.filter((shardId) => this.#probes.get(shardId) === 'ok')
        if (readable.length === 0) return
        const seen = [...into].find(([shardId]) => this.#sources.get(shardId)?.view === key)?.[1]
        try {
          const waits = seen ?? (await this.#sources.get(readable[0]!)!.lockWaits(this.#boundMs))
          for (const shardId of readable) into.set(shardId, waits)
        } catch (error) {
          // A shard that does not answer gives no edges this round; a cycle through it waits for the next.
          this.#logger.debug({ err: error, shardIds: readable }, 'could not read lock waits')
        }
      }),
    )
  }
}
