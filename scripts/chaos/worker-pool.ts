import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { WorkerMessage, WorkerPlan, WorkerStats } from './bank.js'

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url))
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))
const STOP_TIMEOUT_MS = 30_000

interface Slot {
  slot: number
  incarnation: number
  child: ChildProcess | undefined
  ready: boolean
  /** Set when we SIGKILL it on purpose; any other exit is unexpected. */
  killedOnPurpose: boolean
  stopping: boolean
  exited: Promise<void>
  stderrTail: string
}

/** How each transfer a worker reported ended for its caller. */
export interface TransferOutcomes {
  /** `transaction()` resolved: committed, and must be found committed. */
  acknowledged: Set<string>
  /** Rejected with an error other than in-doubt: must be found rolled back. By error name. */
  failed: Map<string, string>
  /** TransactionInDoubtError: either outcome, atomically. */
  inDoubt: Set<string>
  /** Why each in-doubt transfer was in doubt (doubtReason in worker.ts), by transfer id. */
  inDoubtReasons: Map<string, string>
}

/**
 * The worker (coordinator) processes of a chaos run. It spawns them, SIGKILLs
 * one on demand and starts its next incarnation, records what each reports
 * (an acknowledgement counts once the parent has appended it to the acks file),
 * and stops them all at the end.
 */
export class WorkerPool {
  readonly outcomes: TransferOutcomes = { acknowledged: new Set(), failed: new Map(), inDoubt: new Set(), inDoubtReasons: new Map() }
  /** Exits nobody asked for: a worker must survive any database error. */
  readonly unexpectedExits: { slot: number; incarnation: number; code: number | null; signal: string | null; stderr: string }[] = []
  #kills = 0
  readonly #plan: Omit<WorkerPlan, 'slot' | 'incarnation'>
  readonly #slots: Slot[]
  readonly #acks: WriteStream
  readonly #stderr: WriteStream
  readonly #stats = new Map<string, WorkerStats>()
  #running = true

  constructor(plan: Omit<WorkerPlan, 'slot' | 'incarnation'>, count: number, runDir: string) {
    this.#plan = plan
    this.#acks = createWriteStream(join(runDir, 'acks.log'), { flags: 'a' })
    this.#stderr = createWriteStream(join(runDir, 'workers.stderr'), { flags: 'a' })
    this.#slots = Array.from({ length: count }, (_, slot) => ({
      slot,
      incarnation: -1,
      child: undefined,
      ready: false,
      killedOnPurpose: false,
      stopping: false,
      exited: Promise.resolve(),
      stderrTail: '',
    }))
  }

  /** Starts every worker and resolves once all of them run transfers. */
  async start(): Promise<void> {
    await Promise.all(this.#slots.map((slot) => this.#spawn(slot)))
  }

  /** Coordinator SIGKILLs so far. */
  get kills(): number {
    return this.#kills
  }

  /** Slots whose worker is up and running transfers: the ones worth killing. */
  readySlots(): number[] {
    return this.#slots.filter((s) => s.ready && !s.killedOnPurpose).map((s) => s.slot)
  }

  /** SIGKILLs the worker in `slot`; its next incarnation starts right away. */
  kill(slot: number): void {
    const s = this.#slots[slot]!
    if (s.child === undefined || !s.ready || s.killedOnPurpose) return
    s.killedOnPurpose = true
    s.child.kill('SIGKILL')
    this.#kills++
  }

  /** Sums of the workers' last stats, over every incarnation. */
  stats(): WorkerStats {
    const total: WorkerStats = {
      started: 0, oldestInFlightMs: 0, onePhase: 0, twoPhase: 0, aborts: 0, inDoubt: 0, commitPhaseIncomplete: 0, recoveredCommitted: 0, recoveredRolledBack: 0,
    }
    for (const s of this.#stats.values()) for (const key of Object.keys(total) as (keyof WorkerStats)[]) total[key] += s[key]
    return total
  }

  /** One line per live worker: incarnation, transfers begun, oldest one in flight (for progress output). */
  describeLive(): string {
    return this.#slots
      .map((s) => {
        const stats = this.#stats.get(`${s.slot}.${s.incarnation}`)
        const state = s.ready ? 'up' : 'starting'
        return `w${s.slot}.${s.incarnation} ${state} begun ${stats?.started ?? 0} oldest ${stats?.oldestInFlightMs ?? 0}ms`
      })
      .join('; ')
  }

  /** Asks every worker to finish its transfers in flight and exit; SIGKILLs stragglers. */
  async stopAll(): Promise<void> {
    this.#running = false
    for (const s of this.#slots) {
      s.stopping = true
      if (s.ready && s.child?.connected) sendStop(s.child)
    }
    const timer = setTimeout(() => this.killAll(), STOP_TIMEOUT_MS)
    await Promise.all(this.#slots.map((s) => s.exited))
    clearTimeout(timer)
    await new Promise<void>((resolve) => this.#acks.end(resolve))
    await new Promise<void>((resolve) => this.#stderr.end(resolve))
  }

  /** SIGKILLs every worker now (cleanup on failure). */
  killAll(): void {
    this.#running = false
    for (const s of this.#slots) {
      s.stopping = true
      if (s.child !== undefined && s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL')
    }
  }

  #spawn(slot: Slot): Promise<void> {
    slot.incarnation++
    slot.ready = false
    slot.killedOnPurpose = false
    slot.stderrTail = ''
    const plan: WorkerPlan = { ...this.#plan, slot: slot.slot, incarnation: slot.incarnation }
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
      cwd: REPO_ROOT,
      env: { ...process.env, SHARDTX_CHAOS_WORKER: JSON.stringify(plan) },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    })
    slot.child = child
    const statsKey = `${slot.slot}.${slot.incarnation}`
    const label = `[worker ${statsKey}] `
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString()
      slot.stderrTail = (slot.stderrTail + text).slice(-2_000)
      this.#stderr.write(text.replace(/^/gm, label))
    })
    let ready!: () => void
    const isReady = new Promise<void>((resolve) => (ready = resolve))
    child.on('message', (message: WorkerMessage) => {
      switch (message.t) {
        case 'ready':
          slot.ready = true
          // A stop asked for while it was starting is delivered now that it listens.
          if (slot.stopping) sendStop(child)
          ready()
          break
        case 'ack':
          this.#acks.write(`${message.id}\n`)
          this.outcomes.acknowledged.add(message.id)
          break
        case 'failed':
          this.outcomes.failed.set(message.id, message.error)
          break
        case 'doubt':
          this.outcomes.inDoubt.add(message.id)
          this.outcomes.inDoubtReasons.set(message.id, message.reason)
          break
        case 'stats':
          this.#stats.set(statsKey, message.stats)
          break
        case 'stopped':
          break
      }
    })
    slot.exited = new Promise<void>((resolve) => {
      child.on('exit', (code, signal) => {
        ready()
        slot.ready = false
        if (!slot.killedOnPurpose && !(slot.stopping && code === 0)) {
          this.unexpectedExits.push({ slot: slot.slot, incarnation: slot.incarnation, code, signal, stderr: slot.stderrTail })
        }
        if (this.#running && !slot.stopping) {
          // The next incarnation's exit is what stopAll waits for.
          void this.#spawn(slot)
          resolve(slot.exited)
          return
        }
        resolve()
      })
    })
    return isReady
  }
}

/**
 * Asks a worker to stop. The chaos killer may have SIGKILLed it a moment ago, while
 * its IPC channel still looked connected: the write then fails with EPIPE, which
 * `send` hands to the callback instead of emitting as an uncaught 'error'. A dead
 * worker needs no stop; its exit is awaited all the same.
 */
function sendStop(child: ChildProcess): void {
  child.send({ t: 'stop' }, () => {})
}
