import { describe, expect, it } from 'vitest'
import { findTransactionControl } from '../../src/transaction/statement-guard.js'

describe('findTransactionControl', () => {
  it.each([
    ['begin', 'postgres'],
    ['BEGIN ISOLATION LEVEL SERIALIZABLE', 'postgres'],
    ['  commit', 'postgres'],
    ['end', 'postgres'],
    ['abort', 'postgres'],
    ['ROLLBACK', 'postgres'],
    ['rollback work', 'mysql'],
    ['start transaction', 'mysql'],
    ["PREPARE TRANSACTION 'g'", 'postgres'],
    ["COMMIT PREPARED 'g'", 'postgres'],
    ["XA START 'x'", 'mysql'],
    ['set autocommit=0', 'mysql'],
    ['SET SESSION autocommit = 1', 'mysql'],
    ['set @@session.autocommit = 0', 'mysql'],
    ['set transaction isolation level serializable', 'mysql'],
    ['SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY', 'postgres'],
    ['lock tables t write', 'mysql'],
    ['unlock tables', 'mysql'],
    ['select 1; commit', 'postgres'],
    ["select ';'; commit", 'postgres'],
    ['-- note\ncommit', 'postgres'],
    ['/* note */ commit', 'mysql'],
    ['# note\ncommit', 'mysql'],
    ['/*!40101 COMMIT */', 'mysql'],
    ['(commit)', 'postgres'],
  ] as const)('finds %j (%s)', (sql, dialect) => {
    expect(findTransactionControl(sql, dialect)).toBeDefined()
  })

  it.each([
    ["select 'commit'", 'postgres'],
    ['select "begin" from t', 'postgres'],
    ['select `commit` from t', 'mysql'],
    ["select 'it''s; commit'", 'postgres'],
    ["select 'a\\'; commit'", 'mysql'],
    ['select $$; commit$$', 'postgres'],
    ['select $tag$; commit $tag$', 'postgres'],
    ['select $1::int', 'postgres'],
    ['update t set balance = 1', 'postgres'],
    ['insert into commits values (1)', 'postgres'],
    ['savepoint a; rollback to savepoint a; release savepoint a', 'postgres'],
    ['rollback work to a', 'mysql'],
    ['lock table t in exclusive mode', 'postgres'],
    ['set local lock_timeout = 100', 'postgres'],
    ['set @x = 1', 'mysql'],
    ['select 1 -- ; commit', 'postgres'],
    ['select 1 /* ; commit */', 'mysql'],
    ['', 'postgres'],
  ] as const)('allows %j (%s)', (sql, dialect) => {
    expect(findTransactionControl(sql, dialect)).toBeUndefined()
  })
})
