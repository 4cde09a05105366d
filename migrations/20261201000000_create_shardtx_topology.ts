import type { Knex } from 'knex'

/**
 * The stored topology, on the log shard: one row per epoch. A change first claims
 * epoch N+1 as `pending` (the primary key makes the claim a compare-and-set), then
 * bumps every shard's fence, then marks the row `active`. Processes route by the
 * highest `active` row. Older rows stay as the history of changes.
 */
export function createTopologyTableMigration(table: string): Knex.Migration {
  return {
    async up(knex: Knex): Promise<void> {
      if (await knex.schema.hasTable(table)) return
      await knex.schema.createTable(table, (t) => {
        t.integer('epoch').primary()
        t.text('shards').notNullable()
        t.string('log_shard', 64).notNullable()
        t.string('state', 8).notNullable()
        // The change that claimed the row: only it may publish the row (a compare-and-set).
        t.string('claimed_by', 32).notNullable()
        t.bigInteger('created_at').notNullable()
      })
    },
    async down(knex: Knex): Promise<void> {
      await knex.schema.dropTableIfExists(table)
    },
  }
}

/**
 * The fence, on every shard: the epoch the shard was last told, one row per shard
 * id (shards may share a database). Every branch reads its row under a shared lock
 * in its BEGIN round trip; only an epoch change takes it exclusively. `log_shard`
 * names the log shard whose topology set it, so a process configured with another
 * log shard cannot adopt these shards as its own.
 */
export function createFenceTableMigration(table: string): Knex.Migration {
  return {
    async up(knex: Knex): Promise<void> {
      if (await knex.schema.hasTable(table)) return
      await knex.schema.createTable(table, (t) => {
        t.string('shard_id', 64).primary()
        t.integer('epoch').notNullable()
        t.string('log_shard', 64).notNullable()
      })
    },
    async down(knex: Knex): Promise<void> {
      await knex.schema.dropTableIfExists(table)
    },
  }
}
