import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname } from 'node:path'
import { expect, test } from 'vitest'
import { LocalClusterError, startLocalCluster } from '../../src/testing/index.js'
import { connectPostgres } from '../support/raw-connections.js'
import { processesMentioning, processRunning } from '../support/process-traces.js'

test('destroy() leaves no process and no directory behind, and may be called twice', async () => {
  // Durable, the default, so this file also proves that mode starts.
  const local = await startLocalCluster({ postgres: 1, mysql: 1 })
  const root = dirname(dirname(local.server('pg-0').dataDir!))
  expect(dirname(root)).toBe(tmpdir())
  expect(root).toMatch(/[/\\]shardtx-[^/\\]+$/)
  expect(local.server('my-0').dataDir!.startsWith(root)).toBe(true)

  // A connected client makes postgres fork a backend: it must die too.
  const client = await connectPostgres(local.shards[0]!)
  const pids = [local.server('pg-0').pid!, local.server('my-0').pid!]
  expect(processesMentioning(root).length).toBeGreaterThanOrEqual(2)

  await local.destroy()
  await local.destroy()
  await client.end().catch(() => {})

  expect(existsSync(root)).toBe(false)
  expect(processesMentioning(root)).toEqual([])
  for (const pid of pids) expect(processRunning(pid)).toBe(false)
  await expect(local.kill('pg-0')).rejects.toMatchObject({ code: 'LOCAL_CLUSTER_DESTROYED' })
  await expect(local.restart('my-0')).rejects.toBeInstanceOf(LocalClusterError)
})
