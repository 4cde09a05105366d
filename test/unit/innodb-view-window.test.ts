import { describe, expect, it } from 'vitest'
import { msUntilReadWindow, PERIOD_MS, serverAheadMs, WINDOW_MS } from '../../adapters/mysql/innodb-view-window.js'
import { MysqlLockWaits } from '../../adapters/mysql/mysql-lock-waits.js'
import type { Participant } from '../../src/protocol/participant.js'

describe('read windows for InnoDB lock views', () => {
  const period = 1_765_000_000_000 - (1_765_000_000_000 % PERIOD_MS)

  it('lets a read begin at once inside a window', () => {
    for (const phase of [0, 1, WINDOW_MS - 1]) expect(msUntilReadWindow(period + phase)).toBe(0)
  })

  it('holds a read back until the next window outside one, so the view stays unread 150 ms of every 250', () => {
    expect(WINDOW_MS).toBe(100)
    expect(PERIOD_MS).toBe(250)
    expect(msUntilReadWindow(period + WINDOW_MS)).toBe(PERIOD_MS - WINDOW_MS)
    expect(msUntilReadWindow(period + 200)).toBe(50)
    expect(msUntilReadWindow(period + PERIOD_MS - 1)).toBe(1)
    // Wherever a read is asked for, it begins in a window.
    for (let phase = 0; phase < PERIOD_MS; phase += 7) {
      const now = period + phase
      expect((now + msUntilReadWindow(now)) % PERIOD_MS).toBeLessThan(WINDOW_MS)
    }
  })

  it("times windows by the server's clock, as its answer to the time query gives it", () => {
    // Sent at 1000, answered at 1010: the server read 2.000500 s at about 1005 of ours.
    expect(serverAheadMs('2.000500', 1_000, 1_010)).toBeCloseTo(995.5, 6)
    expect(serverAheadMs(null, 1_000, 1_010)).toBeUndefined()
    expect(serverAheadMs('not a time', 1_000, 1_010)).toBeUndefined()
  })

  it('names the server a MariaDB shard reads its view from, so shards on one server share one read per round', () => {
    const viewOf = (connection: Record<string, unknown>) => new MysqlLockWaits({} as Participant, connection).view
    expect(viewOf({ host: 'db1', port: 3307, database: 'a' })).toBe(viewOf({ host: 'db1', port: 3307, database: 'b' }))
    expect(viewOf({ host: 'db1', port: 3307 })).not.toBe(viewOf({ host: 'db1', port: 3308 }))
    expect(viewOf({ socketPath: '/run/mysqld/mysqld.sock', database: 'a' })).toBe('mysql:/run/mysqld/mysqld.sock')
    expect(viewOf({ database: 'a' })).toBe('mysql:localhost:3306')
  })
})
