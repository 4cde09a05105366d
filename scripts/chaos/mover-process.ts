import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { MoverMessage, MoverPlan } from './mover.js'

const MOVER = fileURLToPath(new URL('./mover.ts', import.meta.url))
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))
const STOP_TIMEOUT_MS = 30_000

/**
 * The mover process of a `--reshard` chaos run: spawns it, SIGKILLs it on demand
 * and starts its next incarnation (which resumes the job from the log shard),
 * counts what it reports, and stops it at the end.
 */
export class MoverProcess {
  kills = 0
  batches = 0
  /** Jobs this mover saw reach a final state, by state ('done' grows or shrinks, 'reversed'). */
  readonly finished: { jobId: string; state: string; to: string[] }[] = []
  readonly errors = new Map<string, number>()
  /** Called with each job finished and each error, for the chaos timeline. */
  onEvent: (what: string) => void = () => {}
  readonly unexpectedExits: { incarnation: number; code: number | null; signal: string | null; stderr: string }[] = []
  readonly #plan: Omit<MoverPlan, 'incarnation'>
  readonly #stderr: WriteStream
  #incarnation = -1
  #child: ChildProcess | undefined
  #ready = false
  #killedOnPurpose = false
  #running = true
  #exited: Promise<void> = Promise.resolve()
  #stderrTail = ''

  constructor(plan: Omit<MoverPlan, 'incarnation'>, runDir: string) {
    this.#plan = plan
    this.#stderr = createWriteStream(join(runDir, 'mover.stderr'), { flags: 'a' })
  }

  start(): Promise<void> {
    return this.#spawn()
  }

  get ready(): boolean {
    return this.#ready && !this.#killedOnPurpose
  }

  /** One line for progress output. */
  describe(): string {
    const last = this.finished.at(-1)
    return `mover ${this.#incarnation} ${this.#ready ? 'up' : 'starting'}: ${this.batches} batches, ${this.finished.length} jobs finished${last ? ` (last ${last.state} → ${last.to.join(' ')})` : ''}, ${this.kills} kills`
  }

  kill(): boolean {
    if (this.#child === undefined || !this.#ready || this.#killedOnPurpose) return false
    this.#killedOnPurpose = true
    this.#child.kill('SIGKILL')
    this.kills++
    return true
  }

  /** Asks the mover to stop at its next batch boundary; SIGKILLs it if it does not within 30 s. */
  async stop(): Promise<void> {
    this.#running = false
    if (this.#ready && this.#child?.connected) this.#child.send({ t: 'stop' }, () => {})
    const timer = setTimeout(() => this.killAll(), STOP_TIMEOUT_MS)
    await this.#exited
    clearTimeout(timer)
    await new Promise<void>((resolve) => this.#stderr.end(resolve))
  }

  killAll(): void {
    this.#running = false
    const child = this.#child
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }

  #spawn(): Promise<void> {
    this.#incarnation++
    this.#ready = false
    this.#killedOnPurpose = false
    this.#stderrTail = ''
    const incarnation = this.#incarnation
    const child = spawn(process.execPath, ['--import', 'tsx', MOVER], {
      cwd: REPO_ROOT,
      env: { ...process.env, SHARDTX_CHAOS_MOVER: JSON.stringify({ ...this.#plan, incarnation } satisfies MoverPlan) },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    })
    this.#child = child
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString()
      this.#stderrTail = (this.#stderrTail + text).slice(-2_000)
      this.#stderr.write(text.replace(/^/gm, `[mover ${incarnation}] `))
    })
    let ready!: () => void
    const isReady = new Promise<void>((resolve) => (ready = resolve))
    child.on('message', (message: MoverMessage) => {
      switch (message.t) {
        case 'ready':
          this.#ready = true
          this.onEvent(`mover ${incarnation} up`)
          if (!this.#running) child.send({ t: 'stop' }, () => {})
          ready()
          break
        case 'batch':
          this.batches++
          break
        case 'finished':
          this.finished.push({ jobId: message.jobId, state: message.state, to: message.to })
          this.onEvent(`mover: job ${message.jobId} ${message.state}, routing by ${message.to.join(' ')}`)
          break
        case 'error':
          this.errors.set(message.error, (this.errors.get(message.error) ?? 0) + 1)
          this.onEvent(`mover: ${message.error} (retrying)`)
          break
        case 'stopped':
          break
      }
    })
    this.#exited = new Promise<void>((resolve) => {
      child.on('exit', (code, signal) => {
        ready()
        this.#ready = false
        if (!this.#killedOnPurpose && !(!this.#running && code === 0)) {
          this.unexpectedExits.push({ incarnation, code, signal, stderr: this.#stderrTail })
        }
        if (this.#running) {
          void this.#spawn()
          resolve(this.#exited)
          return
        }
        resolve()
      })
    })
    return isReady
  }
}
