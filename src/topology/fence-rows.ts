import type { Knex } from 'knex'
import type { FenceRow } from './epoch-fence.js'

/**
 * The plain reads and inserts of one shard's fence row, through knex (the same
 * on every dialect); `mapError` turns the dialect's "no such table" into a
 * ConfigError that says to migrate.
 */
export class FenceRows {
  readonly #knex: Knex
  readonly #table: string
  readonly #shardId: string
  readonly #mapError: (error: unknown) => unknown

  constructor(knex: Knex, table: string, shardId: string, mapError: (error: unknown) => unknown) {
    this.#knex = knex
    this.#table = table
    this.#shardId = shardId
    this.#mapError = mapError
  }

  async read(): Promise<FenceRow | undefined> {
    let row: { epoch: number; log_shard: string } | undefined
    try {
      row = (await this.#knex(this.#table).where({ shard_id: this.#shardId }).first()) as typeof row
    } catch (error) {
      throw this.#mapError(error)
    }
    return row === undefined ? undefined : { epoch: Number(row.epoch), logShardId: row.log_shard }
  }

  /** Inserts the row unless the shard has one (racing first processes insert the same); the row that stands. */
  async bootstrap(epoch: number, logShardId: string): Promise<FenceRow> {
    try {
      await this.#knex(this.#table).insert({ shard_id: this.#shardId, epoch, log_shard: logShardId }).onConflict('shard_id').ignore()
    } catch (error) {
      throw this.#mapError(error)
    }
    return (await this.read())!
  }
}
