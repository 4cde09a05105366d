import type { DriverConnection, Participant } from '../../src/protocol/participant.js'

/**
 * Runs `work` on a pooled connection of `participant` and gives up after `boundMs`,
 * getting a connection included. A connection that missed the bound is closed,
 * never pooled (its statement may still be running); one that arrives after the
 * bound goes straight back to the pool.
 *
 * ```ts
 * const rows = await boundedQuery(participant, 1_000, (conn) => conn.query('select 1'))
 * ```
 */
export function boundedQuery<T>(
  participant: Pick<Participant, 'acquire' | 'release' | 'discard' | 'shardId'>,
  boundMs: number,
  work: (conn: DriverConnection) => Promise<T>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let conn: DriverConnection | undefined
    let late = false
    const timer = setTimeout(() => {
      late = true
      if (conn !== undefined) participant.discard(conn)
      reject(new Error(`shard ${participant.shardId}: no answer within ${boundMs} ms`))
    }, boundMs)
    participant.acquire().then(
      async (acquired) => {
        if (late) return participant.release(acquired)
        conn = acquired
        try {
          const result = await work(acquired)
          if (late) return
          clearTimeout(timer)
          participant.release(acquired)
          resolve(result)
        } catch (error) {
          if (late) return
          clearTimeout(timer)
          participant.release(acquired)
          reject(error)
        }
      },
      (error: unknown) => {
        clearTimeout(timer)
        if (!late) reject(error)
      },
    )
  })
}
