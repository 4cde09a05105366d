import { describe, expect, it } from 'vitest'
import { msUntilReadWindow, PERIOD_MS, WINDOW_MS } from '../../adapters/mysql/innodb-view-window.js'

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
})
