import { MysqlEpochFence } from '../../adapters/mysql/mysql-fence.js'
import { PostgresEpochFence } from '../../adapters/postgres/postgres-fence.js'
import { ReshardStore } from '../../src/resharding/reshard-store.js'
import type { BatchPhase, MoverOwnStep } from './reshard-crash-plan.js'

/**
 * The mover's steps the library does not report (its `onStep` has only the two-phase
 * commit's): taking a shard's fence (`hold`, `held` once taken), raising it
 * (`raise`), and which of a batch's two fenced steps runs. They are seen by wrapping
 * both dialects' `holdInBranch` and `raiseInBranch` and the job store's `advance`,
 * on the prototypes, so in the whole process until the returned function restores them.
 *
 * The phase is exact whatever retries: a batch starts with its FREEZE (which compares
 * and sets the job unchanged) and the MOVE is the only step that changes the job's
 * `done`, in its work, before it holds a fence or prepares a branch. So a batch is in
 * `move` from that compare-and-set on, and `reset()` (at each batch boundary, from
 * the mover's `onProgress`) puts it back to `freeze`.
 */
export class MoverSteps {
  phase: BatchPhase = 'freeze'
  readonly #restore: (() => void)[] = []

  constructor(report: (step: MoverOwnStep, shardId: string) => Promise<void>) {
    const patch = <T extends object>(proto: T, name: keyof T & string, wrap: (original: Function) => Function): void => {
      const original = (proto as Record<string, Function>)[name]!
      ;(proto as Record<string, Function>)[name] = wrap(original)
      this.#restore.push(() => void ((proto as Record<string, Function>)[name] = original))
    }
    for (const proto of [MysqlEpochFence.prototype, PostgresEpochFence.prototype]) {
      patch(proto, 'holdInBranch', (hold) =>
        async function (this: { shardId: string }, ...args: unknown[]) {
          await report('hold', this.shardId)
          const blocked = await hold.apply(this, args)
          if (blocked === undefined) await report('held', this.shardId)
          return blocked
        },
      )
      patch(proto, 'raiseInBranch', (raise) =>
        async function (this: { shardId: string }, ...args: unknown[]) {
          await report('raise', this.shardId)
          return raise.apply(this, args)
        },
      )
    }
    const steps = this
    patch(ReshardStore.prototype, 'advance', (advance) =>
      function (this: ReshardStore, ...args: unknown[]) {
        const [, , expected, next] = args as [unknown, string, { done: number }, { done: number }]
        if (next.done !== expected.done) steps.phase = 'move'
        return advance.apply(this, args)
      },
    )
  }

  /** A batch boundary: the next batch begins with its freeze. */
  reset(): void {
    this.phase = 'freeze'
  }

  restore(): void {
    for (const undo of this.#restore.splice(0).reverse()) undo()
  }
}
