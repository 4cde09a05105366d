import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const CHILD = fileURLToPath(new URL('./reshard-mover-child.ts', import.meta.url))

/** A request to the bench's mover process (bench/reshard-mover-child.ts). */
export type MoverRequest = { id: number } & (
  | { op: 'open'; options: object }
  | { op: 'reshard'; target: { id: string }[]; batchSize?: number }
  | { op: 'moveFor'; ms: number; batchSize: number; dutyCycle: number; sets: [string[], string[]] }
  | { op: 'close' }
)

export type MoverReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string }

type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never

/**
 * The bench's mover, in a child process: `open` it with cluster options (plain
 * data), then ask it to run a whole job or to move for a while. One request at a
 * time; a failed one rejects with the child's error text.
 */
export class BenchMover {
  readonly #child: ChildProcess
  readonly #pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>()
  #next = 0

  constructor() {
    this.#child = spawn(process.execPath, ['--import', 'tsx', CHILD], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.#child.on('message', (reply: MoverReply) => {
      const pending = this.#pending.get(reply.id)
      this.#pending.delete(reply.id)
      if (reply.ok) pending?.resolve(reply.value)
      else pending?.reject(new Error(`bench mover: ${reply.error}`))
    })
    this.#child.on('exit', (code, signal) => {
      for (const p of this.#pending.values()) p.reject(new Error(`bench mover exited (${code ?? signal})`))
      this.#pending.clear()
    })
  }

  ask<T>(request: Distribute<MoverRequest>): Promise<T> {
    const id = this.#next++
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.#child.send({ ...request, id })
    })
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
    const exited = new Promise((resolve) => this.#child.once('exit', resolve))
    await this.ask({ op: 'close' }).catch(() => {})
    this.#child.disconnect()
    await exited
  }
}
