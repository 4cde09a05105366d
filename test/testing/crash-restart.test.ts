import { existsSync } from 'node:fs'
import { expect } from 'vitest'
import { processRunning } from '../support/process-traces.js'
import { describeBackendContract } from './backend-contract.js'

// The local backend: servers are processes of this machine, so the probe
// looks at their pids and data directories.
describeBackendContract('local', { backend: 'local' }, {
  expectKilled(before) {
    expect(processRunning(before.pid!)).toBe(false)
  },
  expectRestarted(before, after) {
    expect(after.dataDir).toBe(before.dataDir)
    expect(after.pid).not.toBe(before.pid)
    expect(processRunning(after.pid!)).toBe(true)
  },
  expectRemoved(servers) {
    for (const server of servers) {
      expect(processRunning(server.pid!)).toBe(false)
      expect(existsSync(server.dataDir!)).toBe(false)
    }
  },
})
