import type { FenceRow } from './epoch-fence.js'
import type { StoreShard } from './topology-store.js'
import { asUnavailable } from '../shard-unavailable.js'

/**
 * The plain reads and inserts of one shard's fence row, through knex (the same
 * on every dialect); `mapError` turns the dialect's "no such table" into a
 * ConfigError that says to migrate. Each statement runs on a connection of its
 * own within `statementMs`: the load of the topology that transactions wait for
 * writes these rows.
 */
export class FenceRows {
  readonly #shard: StoreShard
  readonly #table: string
  readonly #shardId: string
  readonly #statementMs: number
  readonly #mapError: (error: unknown) => unknown

  constructor(shard: StoreShard, table: string, shardId: string, statementMs: number, mapError: (error: unknown) => unknown) {
    this.#shard = shard
    this.#table = table
    this.#shardId = shardId
    this.#statementMs = statementMs
    this.#mapError = mapError
  }

  async read(): Promise<FenceRow | undefined> {
    let row: { epoch: number; log_shard: string } | undefined
    try {
      row = (await this.#shard.onOwnConnection(`reading the fence row of ${this.#shardId}`, this.#statementMs, (conn) =>
        this.#shard.knex(this.#table).connection(conn).where({ shard_id: this.#shardId }).first(),
      )) as typeof row
    } catch (error) {
      throw asUnavailable(this.#shard, `the fence row of ${this.#shardId}`, this.#mapError(error))
    }
    return row === undefined ? undefined : { epoch: Number(row.epoch), logShardId: row.log_shard }
  }

  /** Inserts the row unless the shard has one (racing first processes insert the same); the row that stands. */
  async bootstrap(epoch: number, logShardId: string): Promise<FenceRow> {
    try {
      await this.#shard.onOwnConnection(`writing the fence row of ${this.#shardId}`, this.#statementMs, (conn) =>
        this.#shard.knex(this.#table).connection(conn).insert({ shard_id: this.#shardId, epoch, log_shard: logShardId }).onConflict('shard_id').ignore(),
      )
    } catch (error) {
      throw asUnavailable(this.#shard, `the fence row of ${this.#shardId}`, this.#mapError(error))
    }
    return (await this.read())!
  }
}
