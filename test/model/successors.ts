/**
 * How a step function hands its successor states to the explorer. Every step
 * says what kind of step it is, because the recovery-completion check replays
 * the model with only the steps that remain once nothing fails any more.
 */
export const StepKind = {
  /** An ordinary protocol step; it stays possible once actors stop failing. */
  Progress: 0,
  /** A crash, or a statement whose reply is lost: spends one failure. */
  Fault: 1,
  /** A choice completion never makes: a recoverer finding a tx too young, or (seeded) an abort record expiring. */
  Delay: 2,
  /** A recoverer starts a new round (or runs housekeeping between rounds). */
  StartRound: 3,
} as const
export type StepKind = (typeof StepKind)[keyof typeof StepKind]

export interface Successors {
  /** `next` is a fresh copy the receiver may keep; `label` is `<actor>.<step>[: outcome]`. */
  add(label: string, next: Uint8Array, kind: StepKind): void
}
