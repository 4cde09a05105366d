import type { Decision } from './participant.js'
import { pause } from './pause.js'
import type { TransactionLog } from './transaction-log.js'

/** The first pause between tries, doubled up to the last. */
const FIRST_PAUSE_MS = 25
const LAST_PAUSE_MS = 400

/**
 * The coordinator's fence after its decision write was lost, tried again until `ms`
 * runs out or `closing` is aborted, each try within what is left. It may be tried
 * again: an abort record it inserted stands, and a later try reads it (or the commit
 * record the lost write left). A log shard that is restarting refuses connections
 * for a moment that the bound often outlasts, and an answer then is final where
 * giving up at the first refusal left the transaction in doubt. Throws the last
 * try's error.
 *
 * ```ts
 * const decision = await fenceWithin(log, tx.id, participants, 5_000, closing)
 * ```
 */
export async function fenceWithin(log: TransactionLog, txId: string, participants: string[], ms: number, closing: AbortSignal): Promise<Decision> {
  const by = performance.now() + ms
  for (let pauseMs = FIRST_PAUSE_MS; ; pauseMs = Math.min(pauseMs * 2, LAST_PAUSE_MS)) {
    try {
      return await log.fence(txId, participants, Math.max(1, by - performance.now()))
    } catch (error) {
      if (closing.aborted || performance.now() + pauseMs >= by) throw error
      await pause(pauseMs, [closing])
    }
  }
}
