import type { Knex } from 'knex'

/**
 * Second example migration: one column and an index. On MariaDB each DDL statement
 * commits by itself, so a migration is safest with one statement, or written to be
 * run again (see docs/cli.md, "Migrations on every shard").
 *
 * ```ts
 * await cluster.migrateShards({ directory: 'examples/migrations' })
 * ```
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.string('owner', 100).notNullable().defaultTo('').index()
  })
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.dropIndex(['owner'])
    t.dropColumn('owner')
  })
}
