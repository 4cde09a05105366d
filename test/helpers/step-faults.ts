import type { ProtocolStep, StepEvent, StepHook } from '../../src/index.js'
import type { LocalCluster, PartitionMode } from '../../src/testing/index.js'

/**
 * One network fault to inject at one protocol step: when the coordinator reports
 * `step` (for `stepShard` only, when given; prepare and commit are per shard),
 * the path to `target` is black-holed or reset before the step goes on.
 */
export interface StepFault {
  step: ProtocolStep
  stepShard?: string
  target: string
  mode: PartitionMode
}

/** What an injection found: the event it struck at. */
export interface InjectedFault {
  fault: StepFault
  event: StepEvent
}

/**
 * A cluster's `onStep` hook that breaks a shard's network at a chosen protocol
 * step. Give `onStep` to `createCluster` once, then `arm` one fault per
 * transaction: each armed fault strikes once, at the first matching step of any
 * transaction, and the step waits until the partition is in place.
 *
 * ```ts
 * const faults = new StepFaults(local)
 * const cluster = createCluster({ shards: local.shards, onStep: faults.onStep })
 * const struck = faults.arm({ step: 'decide', target: 'pg-0', mode: 'reset' })
 * const outcome = await settle(cluster.transaction(work))
 * const { event } = await struck
 * ```
 */
export class StepFaults {
  readonly #local: LocalCluster
  #armed: { fault: StepFault; strike: (found: InjectedFault) => void; fail: (error: unknown) => void } | undefined

  constructor(local: LocalCluster) {
    this.#local = local
  }

  readonly onStep: StepHook = async (event) => {
    const armed = this.#armed
    if (armed === undefined || !matches(armed.fault, event)) return
    this.#armed = undefined
    try {
      await this.#local.partition(armed.fault.target, { mode: armed.fault.mode })
      armed.strike({ fault: armed.fault, event })
    } catch (error) {
      armed.fail(error)
    }
  }

  /** Arms `fault`; resolves once it struck. Throws when another fault is still armed. */
  arm(fault: StepFault): Promise<InjectedFault> {
    if (this.#armed !== undefined) throw new Error(`a fault at ${this.#armed.fault.step} is still armed; disarm() it first`)
    return new Promise((strike, fail) => {
      this.#armed = { fault, strike, fail }
    })
  }

  /** Whether the armed fault has not struck yet (its step never came). */
  get pending(): boolean {
    return this.#armed !== undefined
  }

  /** Drops an armed fault that never struck. */
  disarm(): void {
    this.#armed = undefined
  }
}

function matches(fault: StepFault, event: StepEvent): boolean {
  return event.step === fault.step && (fault.stepShard === undefined || event.shardId === fault.stepShard)
}

/** A promise's outcome as a value, so a test can look at it after the fact. */
export async function settle<T>(promise: Promise<T>): Promise<PromiseSettledResult<T>> {
  try {
    return { status: 'fulfilled', value: await promise }
  } catch (reason) {
    return { status: 'rejected', reason }
  }
}

/**
 * Runs `work` as one transaction of `cluster` with `fault` armed, then heals
 * the target. Resolves with the transaction's outcome and the event the fault
 * struck at (undefined when its step never came). The transaction's own time
 * is not bounded here: a liveness test bounds it, that is what it tests.
 *
 * ```ts
 * const { outcome, struck } = await runWithStepFault(local, faults, () => cluster.transaction(transfer), fault)
 * ```
 */
export async function runWithStepFault<T>(
  local: LocalCluster,
  faults: StepFaults,
  run: () => Promise<T>,
  fault: StepFault,
): Promise<{ outcome: PromiseSettledResult<T>; struck: StepEvent | undefined }> {
  let struck: StepEvent | undefined
  const armed = faults.arm(fault).then((found) => {
    struck = found.event
  })
  try {
    const outcome = await settle(run())
    if (!faults.pending) await armed
    return { outcome, struck }
  } finally {
    faults.disarm()
    await local.heal(fault.target)
  }
}
