import type { Knex } from 'knex'

/**
 * First example migration: the `accounts` table every shard holds its slice of.
 * Runs on PostgreSQL and MariaDB alike, through knex's schema builder.
 *
 * ```ts
 * await cluster.migrateShards({ directory: 'examples/migrations' })
 * ```
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('accounts', (t) => {
    t.string('id', 64).primary()
    t.bigInteger('balance').notNullable().defaultTo(0)
  })
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('accounts')
}
