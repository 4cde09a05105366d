import type { Knex } from 'knex'

/**
 * Resharding (docs/resharding.md). The topology table gains `reshard`: on the rows
 * a resharding job writes, the job and how many of its batches are done, so that
 * routing at that epoch is a pure function of the stored rows. The job table holds
 * each job's plan and progress; `done` is advanced by a compare-and-set in the same
 * two-phase transaction as the batch it counts.
 */
export function addReshardColumnMigration(topologyTable: string): Knex.Migration {
  return {
    async up(knex: Knex): Promise<void> {
      if (await knex.schema.hasColumn(topologyTable, 'reshard')) return
      await knex.schema.alterTable(topologyTable, (t) => {
        t.text('reshard').nullable()
      })
    },
    async down(knex: Knex): Promise<void> {
      if (!(await knex.schema.hasColumn(topologyTable, 'reshard'))) return
      await knex.schema.alterTable(topologyTable, (t) => {
        t.dropColumn('reshard')
      })
    },
  }
}

export function createReshardJobTableMigration(table: string): Knex.Migration {
  return {
    async up(knex: Knex): Promise<void> {
      if (await knex.schema.hasTable(table)) return
      await knex.schema.createTable(table, (t) => {
        t.string('id', 32).primary()
        // running | cancelled | reversing | done | reversed
        t.string('state', 16).notNullable()
        t.integer('from_epoch').notNullable()
        t.text('from_shards').notNullable()
        t.text('to_shards').notNullable()
        // The batches, in order: JSON [{ from, to, firstSlot, lastSlot, rows }].
        t.text('plan', 'longtext').notNullable()
        t.integer('done').notNullable()
        t.integer('total').notNullable()
        t.bigInteger('rows_moved').notNullable()
        t.bigInteger('created_at').notNullable()
        t.bigInteger('updated_at').notNullable()
      })
    },
    async down(knex: Knex): Promise<void> {
      await knex.schema.dropTableIfExists(table)
    },
  }
}
