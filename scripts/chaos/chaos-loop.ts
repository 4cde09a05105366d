import type { LocalCluster, PartitionMode } from '../../src/testing/index.js'
import type { ChaosOptions } from './chaos-options.js'
import { deriveSeed, Prng } from './prng.js'
import type { MoverProcess } from './mover-process.js'
import type { WorkerPool } from './worker-pool.js'

/** One injected fault or repair, for the timeline printed when a run fails. */
export interface ChaosEvent {
  atMs: number
  what: string
}

/**
 * Injects crashes at random moments from a seeded schedule: SIGKILLs of worker
 * processes (coordinators), SIGKILLs of shard servers followed, after a random
 * downtime, by their restart, and network faults: a shard's path black-holed or
 * reset through its fault proxy, healed after a random while. Each kind runs on
 * its own PRNG stream, so one schedule does not shift when another's timing does.
 */
export class ChaosLoop {
  readonly events: ChaosEvent[] = []
  readonly shardKills = new Map<string, number>()
  readonly networkFaults: Record<PartitionMode, number> = { blackhole: 0, reset: 0 }
  restartFailures = 0
  readonly #options: ChaosOptions
  readonly #pool: WorkerPool
  readonly #local: LocalCluster
  readonly #say: (line: string) => void
  readonly #coordinatorRandom: Prng
  readonly #shardRandom: Prng
  readonly #networkRandom: Prng
  readonly #moverRandom: Prng
  readonly #mover: MoverProcess | undefined
  readonly #down = new Set<string>()
  /** Shards whose path is broken right now; never killed meanwhile, so a restart never waits on a broken path. */
  readonly #partitioned = new Set<string>()
  readonly #inflight = new Set<Promise<void>>()
  readonly #timers = new Set<NodeJS.Timeout>()
  #stopped = false
  #startedAt = 0

  constructor(options: ChaosOptions, pool: WorkerPool, local: LocalCluster, say: (line: string) => void, mover?: MoverProcess) {
    this.#options = options
    this.#pool = pool
    this.#local = local
    this.#say = say
    this.#coordinatorRandom = new Prng(deriveSeed(options.seed, 0xc0))
    this.#shardRandom = new Prng(deriveSeed(options.seed, 0x5d))
    this.#networkRandom = new Prng(deriveSeed(options.seed, 0x4e))
    this.#moverRandom = new Prng(deriveSeed(options.seed, 0x3d))
    this.#mover = mover
    if (mover !== undefined) mover.onEvent = (what) => this.#note(what)
    for (const shard of local.shards) this.shardKills.set(shard.id, 0)
  }

  get shardKillCount(): number {
    let total = 0
    for (const n of this.shardKills.values()) total += n
    return total
  }

  get networkFaultCount(): number {
    return this.networkFaults.blackhole + this.networkFaults.reset
  }

  /** Shard servers down right now. */
  get down(): string[] {
    return [...this.#down]
  }

  start(): void {
    this.#startedAt = Date.now()
    if (this.#options.coordinatorKillEveryMs > 0) this.#scheduleCoordinatorKill()
    if (this.#options.shardKillEveryMs > 0) this.#scheduleShardKill()
    if (this.#options.networkFaultEveryMs > 0) this.#scheduleNetworkFault()
    if (this.#mover !== undefined && this.#options.moverKillEveryMs > 0) this.#scheduleMoverKill()
  }

  /** Stops injecting, waits for kills, restarts and faults in flight, and brings every shard and path back. */
  async stop(): Promise<void> {
    this.#stopped = true
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight])
    for (const shardId of [...this.#partitioned]) await this.#heal(shardId)
    for (const shardId of [...this.#down]) await this.#restart(shardId)
  }

  #after(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      if (!this.#stopped) action()
    }, ms)
    this.#timers.add(timer)
  }

  #track(work: Promise<void>): void {
    this.#inflight.add(work)
    void work.finally(() => this.#inflight.delete(work))
  }

  #note(what: string): void {
    this.events.push({ atMs: Date.now() - this.#startedAt, what })
    if (this.#options.verbose) this.#say(`  ${((Date.now() - this.#startedAt) / 1000).toFixed(1)}s ${what}`)
  }

  /** The first kill of each kind comes within the first third of the run, so even a short run has one. */
  #gap(random: Prng, mean: number, first: boolean): number {
    const gap = random.exponential(mean)
    return first ? Math.min(gap, this.#options.durationMs / 3) : gap
  }

  #scheduleCoordinatorKill(first = true): void {
    this.#after(this.#gap(this.#coordinatorRandom, this.#options.coordinatorKillEveryMs, first), () => {
      const ready = this.#pool.readySlots()
      // Drawn whether or not a worker is ready, so the stream stays the same.
      const choice = this.#coordinatorRandom.next()
      if (ready.length > 0) {
        const slot = ready[Math.floor(choice * ready.length)]!
        this.#pool.kill(slot)
        this.#note(`SIGKILL worker ${slot}`)
      }
      this.#scheduleCoordinatorKill(false)
    })
  }

  #scheduleMoverKill(first = true): void {
    this.#after(this.#gap(this.#moverRandom, this.#options.moverKillEveryMs, first), () => {
      if (this.#mover!.kill()) this.#note('SIGKILL mover')
      this.#scheduleMoverKill(false)
    })
  }

  #scheduleShardKill(first = true): void {
    this.#after(this.#gap(this.#shardRandom, this.#options.shardKillEveryMs, first), () => {
      const candidates = this.#local.shards.map((s) => s.id).filter((id) => !this.#down.has(id) && !this.#partitioned.has(id))
      const choice = this.#shardRandom.next()
      const downtime = this.#shardRandom.between(this.#options.shardDownMs.min, this.#options.shardDownMs.max)
      if (this.#down.size < this.#options.maxShardsDown && candidates.length > 0) {
        const shardId = candidates[Math.floor(choice * candidates.length)]!
        this.#down.add(shardId)
        this.#track(this.#killThenRestart(shardId, downtime))
      }
      this.#scheduleShardKill(false)
    })
  }

  #scheduleNetworkFault(first = true): void {
    this.#after(this.#gap(this.#networkRandom, this.#options.networkFaultEveryMs, first), () => {
      const candidates = this.#local.shards.map((s) => s.id).filter((id) => !this.#down.has(id) && !this.#partitioned.has(id))
      // Drawn whether or not a shard is free, so the stream stays the same.
      const choice = this.#networkRandom.next()
      const mode: PartitionMode = this.#networkRandom.next() < 0.5 ? 'blackhole' : 'reset'
      const lasts = this.#networkRandom.between(this.#options.networkDownMs.min, this.#options.networkDownMs.max)
      if (candidates.length > 0) {
        const shardId = candidates[Math.floor(choice * candidates.length)]!
        this.#partitioned.add(shardId)
        this.#track(this.#partitionThenHeal(shardId, mode, lasts))
      }
      this.#scheduleNetworkFault(false)
    })
  }

  async #partitionThenHeal(shardId: string, mode: PartitionMode, lastsMs: number): Promise<void> {
    await this.#local.partition(shardId, { mode })
    this.networkFaults[mode]++
    this.#note(`${mode} path to ${shardId} (for ${lastsMs} ms)`)
    await new Promise((resolve) => setTimeout(resolve, lastsMs))
    await this.#heal(shardId)
  }

  async #heal(shardId: string): Promise<void> {
    await this.#local.heal(shardId)
    this.#partitioned.delete(shardId)
    this.#note(`healed path to ${shardId}`)
  }

  async #killThenRestart(shardId: string, downtimeMs: number): Promise<void> {
    await this.#local.kill(shardId)
    this.shardKills.set(shardId, this.shardKills.get(shardId)! + 1)
    this.#note(`SIGKILL shard ${shardId} (down ${downtimeMs} ms)`)
    await new Promise((resolve) => setTimeout(resolve, downtimeMs))
    await this.#restart(shardId)
  }

  async #restart(shardId: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#local.restart(shardId)
        this.#down.delete(shardId)
        this.#note(`restarted shard ${shardId}`)
        return
      } catch (error) {
        this.restartFailures++
        this.#note(`restart of ${shardId} failed (attempt ${attempt}): ${(error as Error).message}`)
        if (attempt >= 5) throw error
        await new Promise((resolve) => setTimeout(resolve, 1_000))
      }
    }
  }
}
