import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Cluster,
  ConfigError,
  createCluster,
  MigrationLoadError,
  type MigrationProgress,
  ShardMigrationError,
  type ShardMigrationStatus,
} from '../../src/index.js'
import { sharedShards } from '../support/shared-cluster.js'

const SHARDS = ['pg-0', 'pg-1', 'my-0', 'my-1']
const dialectOf = (id: string) => (id.startsWith('pg') ? 'postgres' : 'mysql')

describe('cluster.migrateShards', () => {
  const s = randomBytes(4).toString('hex')
  const root = mkdtempSync(join(tmpdir(), 'shardtx-mig-'))
  /** Tables every test made, dropped on every shard at the end. */
  const made: string[] = []
  let cluster: Cluster

  /** A unique table name for this test file. */
  const table = (name: string): string => {
    made.push(`${name}_${s}`)
    return `${name}_${s}`
  }
  /** A unique migrations table (and its lock table). */
  const migrationsTable = (name: string): string => {
    const t = table(name)
    made.push(`${t}_lock`)
    return t
  }
  /** A folder holding these migration files. */
  const folder = (name: string, files: Record<string, string>): string => {
    const dir = join(root, name)
    rmSync(dir, { recursive: true, force: true })
    for (const [file, text] of Object.entries(files)) writeFileSync(join(mkdir(dir), file), text)
    return dir
  }
  const createTable = (t: string) =>
    `export const up = (knex) => knex.schema.createTable('${t}', (t) => { t.integer('id').primary() })
     export const down = (knex) => knex.schema.dropTable('${t}')\n`
  const names = async (shardId: string, migrations: string) =>
    (await cluster.forShard(shardId)(migrations).select('name').orderBy('id')).map((r) => r.name as string)

  beforeAll(() => {
    cluster = createCluster({ shards: sharedShards(), recovery: false })
  })

  afterAll(async () => {
    await Promise.all(
      SHARDS.map(async (id) => {
        for (const t of made) await cluster.forShard(id).schema.dropTableIfExists(t)
      }),
    )
    await cluster.close()
    rmSync(root, { recursive: true, force: true })
  })

  it('applies .mjs and .ts migrations on every shard in lockstep, and nothing on a second run', async () => {
    const items = table('items')
    const migrations = migrationsTable('mig_a')
    const dir = folder('a', {
      '001_create.mjs': createTable(items),
      // Type-only TypeScript: loads because shardtx imports migrations from its own module.
      '002_add_name.ts': `import type { Knex } from 'knex'
        export async function up(knex: Knex): Promise<void> { await knex.schema.alterTable('${items}', (t) => { t.string('name', 40) }) }
        export async function down(knex: Knex): Promise<void> { await knex.schema.alterTable('${items}', (t) => { t.dropColumn('name') }) }\n`,
    })
    const progress: MigrationProgress[] = []
    const statuses = await cluster.migrateShards({ directory: dir, tableName: migrations, onProgress: (p) => progress.push(p) })
    expect(statuses).toEqual(
      SHARDS.map((shardId) => ({
        shardId,
        dialect: dialectOf(shardId),
        state: 'migrated',
        appliedBefore: [],
        appliedNow: ['001_create.mjs', '002_add_name.ts'],
        current: '002_add_name.ts',
        pending: [],
      })),
    )
    for (const id of SHARDS) {
      expect(await cluster.forShard(id).schema.hasColumn(items, 'name')).toBe(true)
      expect(await names(id, migrations)).toEqual(['001_create.mjs', '002_add_name.ts'])
    }
    // Lockstep: the second migration started nowhere before the first finished everywhere.
    const firstStartOfSecond = progress.findIndex((p) => p.event === 'started' && p.migration === '002_add_name.ts')
    const lastEndOfFirst = progress.findLastIndex((p) => p.event === 'finished' && p.migration === '001_create.mjs')
    expect(firstStartOfSecond).toBeGreaterThan(lastEndOfFirst)
    expect(progress.filter((p) => p.event === 'finished')).toHaveLength(8)

    const again = await cluster.migrateShards({ directory: dir, tableName: migrations })
    for (const status of again) {
      expect(status).toMatchObject({
        state: 'up-to-date',
        appliedBefore: ['001_create.mjs', '002_add_name.ts'],
        appliedNow: [],
        current: '002_add_name.ts',
        pending: [],
      })
    }
  })

  it('migrates only the shards asked for, and later catches up the others', async () => {
    const dir = folder('c', { '001_create.mjs': createTable(table('caught')) })
    const migrations = migrationsTable('mig_c')
    const some = await cluster.migrateShards({ directory: dir, tableName: migrations, shards: ['my-1', 'pg-0'] })
    expect(some.map((x) => [x.shardId, x.state])).toEqual([['pg-0', 'migrated'], ['my-1', 'migrated']])
    const all = await cluster.migrateShards({ directory: dir, tableName: migrations })
    expect(all.map((x) => [x.shardId, x.state])).toEqual([
      ['pg-0', 'up-to-date'],
      ['pg-1', 'migrated'],
      ['my-0', 'migrated'],
      ['my-1', 'up-to-date'],
    ])
  })

  it('stops after a migration that fails on one dialect and says where every shard stands', async () => {
    const base = table('base')
    const tags = table('tags')
    const migrations = migrationsTable('mig_d')
    const dir = folder('d', {
      '001_create.mjs': createTable(base),
      // Array columns are PostgreSQL-only: MariaDB answers 1064 (syntax error).
      '002_pg_only.mjs': `export const up = (knex) => knex.raw('create table ${tags} (id int primary key, labels text[])')
        export const down = (knex) => knex.schema.dropTable('${tags}')\n`,
      '003_index.mjs': `export const up = (knex) => knex.schema.alterTable('${base}', (t) => { t.string('code', 10).index() })
        export const down = (knex) => knex.schema.alterTable('${base}', (t) => { t.dropColumn('code') })\n`,
    })
    const error = await cluster.migrateShards({ directory: dir, tableName: migrations }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ShardMigrationError)
    const pg = (shardId: string): ShardMigrationStatus => ({
      shardId,
      dialect: 'postgres',
      state: 'stopped',
      appliedBefore: [],
      appliedNow: ['001_create.mjs', '002_pg_only.mjs'],
      current: '002_pg_only.mjs',
      pending: ['003_index.mjs'],
    })
    const my = (shardId: string): ShardMigrationStatus => ({
      shardId,
      dialect: 'mysql',
      state: 'failed',
      appliedBefore: [],
      appliedNow: ['001_create.mjs'],
      current: '001_create.mjs',
      pending: ['002_pg_only.mjs', '003_index.mjs'],
      error: { migration: '002_pg_only.mjs', message: expect.stringContaining('SQL syntax'), mayBePartial: true, cause: expect.anything() },
    })
    expect((error as ShardMigrationError).shards).toEqual([pg('pg-0'), pg('pg-1'), my('my-0'), my('my-1')])
    expect((error as ShardMigrationError).code).toBe('MIGRATION_FAILED')
    expect(((error as Error).cause as { errno?: number }).errno).toBe(1064)
    expect((error as Error).message).toContain(
      'shards now at: pg-0 002_pg_only.mjs, pg-1 002_pg_only.mjs, my-0 001_create.mjs, my-1 001_create.mjs',
    )
    for (const id of SHARDS) {
      // What the tables record matches the report, and nothing after the failed step started anywhere.
      expect(await names(id, migrations)).toEqual(dialectOf(id) === 'postgres' ? ['001_create.mjs', '002_pg_only.mjs'] : ['001_create.mjs'])
      expect(await cluster.forShard(id).schema.hasColumn(base, 'code')).toBe(false)
    }
  })

  it('changes no shard when one cannot be reached', async () => {
    const untouched = table('untouched')
    const dir = folder('e', { '001_create.mjs': createTable(untouched) })
    const withDeadShard = createCluster({
      shards: [...sharedShards(), { id: 'gone', dialect: 'postgres', connection: 'postgres://postgres@127.0.0.1:1/x' }],
      recovery: false,
    })
    try {
      const error = await withDeadShard.migrateShards({ directory: dir, tableName: migrationsTable('mig_e') }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ShardMigrationError)
      const shards = (error as ShardMigrationError).shards
      expect(shards.map((x) => [x.shardId, x.state, x.appliedNow])).toEqual([
        ...SHARDS.map((id) => [id, 'stopped', []]),
        ['gone', 'failed', []],
      ])
      expect(shards.at(-1)).toMatchObject({ appliedBefore: undefined, pending: undefined, error: { migration: undefined } })
      for (const id of SHARDS) expect(await cluster.forShard(id).schema.hasTable(untouched)).toBe(false)
    } finally {
      await withDeadShard.close()
    }
  })

  it('refuses a broken migration file before any shard runs anything', async () => {
    const never = table('never')
    const dir = folder('f', {
      '001_create.mjs': createTable(never),
      '002_no_down.mjs': 'export const up = async () => {}\n',
    })
    const error = await cluster.migrateShards({ directory: dir, tableName: migrationsTable('mig_f') }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MigrationLoadError)
    expect(error).toMatchObject({ file: '002_no_down.mjs', code: 'MIGRATION_LOAD' })
    for (const id of SHARDS) expect(await cluster.forShard(id).schema.hasTable(never)).toBe(false)
  })

  it('rejects bad options with a ConfigError before touching a shard', async () => {
    const dir = folder('g', { '001_a.ts': '', '001_a.js': '', '001_a.d.ts': '' })
    await expect(cluster.migrateShards({ directory: join(root, 'nope') })).rejects.toThrow(/directory: no such folder/)
    await expect(cluster.migrateShards({ directory: dir, tableName: 'bad name' })).rejects.toThrow(ConfigError)
    await expect(cluster.migrateShards({ directory: dir, shards: ['pg-9'] })).rejects.toThrow(/unknown shard "pg-9"/)
    await expect(cluster.migrateShards({ directory: dir })).rejects.toThrow(/both 001_a.js and 001_a.ts/)
  })
})

function mkdir(dir: string): string {
  mkdirSync(dir, { recursive: true })
  return dir
}
