import { describe, expect, it } from 'vitest'
import { resolveClusterOptions } from '../../src/config/cluster-options.js'
import { ConfigError } from '../../src/errors.js'

const shards = [{ id: 'pg-0', dialect: 'postgres', connection: 'postgres://u@localhost:5432/db' }]

function problem(tables: unknown): ConfigError {
  try {
    resolveClusterOptions({ shards, tables })
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error('expected a ConfigError')
}

describe('the tables option', () => {
  it('resolves column keys, function keys and reference tables', () => {
    const { tables } = resolveClusterOptions({
      shards,
      tables: {
        accounts: { shardKey: 'id' },
        orders: { shardKey: (row: Record<string, unknown>) => `${row.tenant}:${row.id}`, keyColumns: ['tenant', 'id'] },
        'app.currencies': { reference: true },
      },
    })
    const accounts = tables.get('accounts')
    const orders = tables.get('orders')
    expect(accounts).toMatchObject({ kind: 'sharded', keyColumns: ['id'] })
    expect(orders).toMatchObject({ kind: 'sharded', keyColumns: ['tenant', 'id'] })
    expect(accounts?.kind === 'sharded' && accounts.keyOf({ id: 7 })).toBe(7)
    expect(orders?.kind === 'sharded' && orders.keyOf({ tenant: 'a', id: 7 })).toBe('a:7')
    expect(tables.get('app.currencies')).toEqual({ name: 'app.currencies', kind: 'reference' })
  })

  it('defaults to no tables', () => {
    expect(resolveClusterOptions({ shards }).tables.size).toBe(0)
  })

  it.each<[unknown, string]>([
    [[], 'tables'],
    ['accounts', 'tables'],
    [{ 'bad name': { shardKey: 'id' } }, 'tables.bad name'],
    [{ accounts: null }, 'tables.accounts'],
    [{ accounts: {} }, 'tables.accounts.shardKey'],
    [{ accounts: { shardKey: 3 } }, 'tables.accounts.shardKey'],
    [{ accounts: { shardKey: 'id; drop' } }, 'tables.accounts.shardKey'],
    [{ accounts: { shardKey: 'id', keyColumns: ['id'] } }, 'tables.accounts.keyColumns'],
    [{ accounts: { shardKey: 'id', shard: 'x' } }, 'tables.accounts.shard'],
    [{ orders: { shardKey: () => 1 } }, 'tables.orders.keyColumns'],
    [{ orders: { shardKey: () => 1, keyColumns: [] } }, 'tables.orders.keyColumns'],
    [{ orders: { shardKey: () => 1, keyColumns: ['a', 7] } }, 'tables.orders.keyColumns[1]'],
    [{ orders: { shardKey: () => 1, keyColumns: ['a', 'A'] } }, 'tables.orders.keyColumns[1]'],
    [{ currencies: { reference: false } }, 'tables.currencies.reference'],
    [{ currencies: { reference: true, shardKey: 'code' } }, 'tables.currencies.shardKey'],
  ])('refuses %j naming %s', (tables, field) => {
    expect(problem(tables).field).toBe(field)
  })
})
