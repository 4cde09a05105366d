import type { Knex } from 'knex'

/**
 * The transaction log table: one row per decided transaction.
 * The primary key on `tx_id` is the fence between a coordinator's commit record
 * and a recoverer's abort record: only the first insert wins.
 */
export function createLogTableMigration(table: string): Knex.Migration {
  return {
    async up(knex: Knex): Promise<void> {
      if (await knex.schema.hasTable(table)) return
      await knex.schema.createTable(table, (t) => {
        t.string('tx_id', 64).primary()
        t.string('decision', 8).notNullable()
        t.text('participants').notNullable()
        t.bigInteger('created_at').notNullable()
        // Expiry of abort records and the scan for commit records both filter on these.
        t.index(['decision', 'created_at'], `${table}_decision_created_at`)
      })
    },
    async down(knex: Knex): Promise<void> {
      await knex.schema.dropTableIfExists(table)
    },
  }
}
