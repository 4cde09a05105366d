import { parseTransactionId } from '../protocol/ids/transaction-id.js'

/**
 * The transaction a deadlock detector aborts among `members` of a cycle: the
 * youngest by the start time in its id (a retried transaction carries its first
 * attempt's, so it ages into priority), ties broken by the greater id. Every
 * detector, in every process, picks the same one from the same members.
 */
export function youngest(members: Iterable<string>): string {
  let victim: string | undefined
  let victimStart = -Infinity
  for (const txId of members) {
    const start = parseTransactionId(txId)?.startedAt ?? Infinity
    if (victim === undefined || start > victimStart || (start === victimStart && txId > victim)) {
      victim = txId
      victimStart = start
    }
  }
  if (victim === undefined) throw new Error('youngest() of no transactions')
  return victim
}
