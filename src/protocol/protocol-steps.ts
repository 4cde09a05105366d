/**
 * The steps of the commit and recovery protocol, in the order a coordinator
 * takes them (see docs/protocol.md). Each is reported to the cluster's `onStep` hook
 * as it happens; the names match the model in `test/model/`.
 *
 * - `prepare` / `prepared`: before and after one written branch is prepared.
 * - `decide`: all branches prepared, the commit record is about to be written.
 * - `decided`: the commit record is durable; the transaction is committed.
 * - `commit` / `committed`: before and after one prepared branch is committed.
 * - `forget`: commit records of fully committed transactions are about to be deleted.
 * - `one-phase`: the single written branch is about to commit without a log record.
 * - `abort`: the transaction is about to roll back every branch.
 * - `recover-fenced`: a recoverer read (or wrote) the decision of an in-doubt transaction.
 * - `recover-resolved`: a recoverer finished one in-doubt branch.
 *
 * ```ts
 * const crashAt: ProtocolStep = 'decided'
 * ```
 */
export type ProtocolStep =
  | 'prepare'
  | 'prepared'
  | 'decide'
  | 'decided'
  | 'commit'
  | 'committed'
  | 'forget'
  | 'one-phase'
  | 'abort'
  | 'recover-fenced'
  | 'recover-resolved'

/**
 * One protocol step as the `onStep` hook sees it.
 *
 * ```ts
 * const onStep = (e: StepEvent) => console.log(e.step, e.txId, e.shardId ?? '', e.decision ?? '')
 * ```
 */
export interface StepEvent {
  step: ProtocolStep
  txId: string
  shardId?: string
  decision?: 'commit' | 'abort'
}

/**
 * Observes protocol steps, for tracing and for tests that crash a process at an
 * exact step. When it returns a promise the step waits for it; it cannot change
 * what the protocol does, and an error it throws is logged and ignored.
 *
 * ```ts
 * createCluster({ shards, onStep: (e) => console.log(e.step, e.txId, e.shardId) })
 * ```
 */
export type StepHook = (event: StepEvent) => void | Promise<void>
