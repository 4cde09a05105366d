/**
 * An error from reaching a shard, in words. knex reports any wait for a pooled
 * connection that runs out as "Timeout acquiring a connection. The pool is
 * probably full. Are you missing a .transacting(trx) call?", which sends
 * people looking for a leak; say what it usually means instead.
 */
export function describeShardError(error: unknown): string {
  if (error instanceof Error && error.name === 'KnexTimeoutError') {
    return 'no connection within the wait limit (maxWait): the pool is busy with other transactions, or the server is down or unreachable'
  }
  return error instanceof Error ? error.message : String(error)
}
