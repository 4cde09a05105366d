import { createParticipant } from '../../adapters/index.js'
import { resolveClusterOptions } from '../../src/config/cluster-options.js'
import type { ShardConfig } from '../../src/index.js'
import { branchIdOf } from '../../src/protocol/ids/branch-id.js'
import { newTransactionId } from '../../src/protocol/ids/transaction-id.js'
import { silentLogger } from '../../src/logger.js'
import type { DriverConnection, Participant } from '../../src/protocol/participant.js'

/**
 * Makes prepared branches the way a coordinator that died after PREPARE leaves
 * them, through the library's own participants: for recovery tests and the
 * recovery benchmark.
 */
export class BranchFactory {
  readonly #participants = new Map<string, Participant>()
  readonly #prefix: string

  constructor(shards: ShardConfig[], prefix: string) {
    this.#prefix = prefix
    const config = resolveClusterOptions({ shards, prefix })
    for (const shard of config.shards) {
      this.#participants.set(
        shard.id,
        createParticipant(shard.dialect, {
          shardId: shard.id,
          prefix,
          logTable: config.logTable,
          connection: shard.connection,
          pool: { max: 20 },
          acquireTimeoutMs: 10_000,
          connectTimeoutMs: config.connectTimeoutMs,
          keepAliveDelayMs: config.keepAliveDelayMs,
          timeouts: config.timeouts,
          logger: silentLogger,
        }),
      )
    }
  }

  /** A transaction id whose coordinator started `ageMs` ago with a 1 s timeout. */
  static oldTxId(ageMs = 60_000): string {
    return newTransactionId(Date.now() - ageMs, 1_000)
  }

  /**
   * Prepares a branch of `txId` on `shardId` that inserts `row` into `table`.
   * With `keepOpen` the preparing connection stays open (a MySQL owner still
   * connected); call the returned function to close it.
   */
  async prepare(
    shardId: string,
    txId: string,
    insert?: { table: string; row: Record<string, unknown> },
    keepOpen = false,
  ): Promise<() => void> {
    const participant = this.#participants.get(shardId)!
    const branch = branchIdOf(this.#prefix, txId, shardId)
    const conn: DriverConnection = await participant.acquire()
    await participant.begin(conn, branch, {})
    if (insert !== undefined) {
      await participant.knex(insert.table).insert(insert.row).connection(conn)
    }
    await participant.prepare(conn, branch)
    const close = (): void => participant.discard(conn)
    // A PostgreSQL session is free once it prepared; a MySQL one owns its branch until it closes.
    if (!keepOpen) participant.dialect === 'postgres' ? participant.release(conn) : close()
    return close
  }

  async close(): Promise<void> {
    await Promise.all([...this.#participants.values()].map((p) => p.close()))
  }
}
