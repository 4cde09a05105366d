import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { runInProcess } from '../cli/in-process-cli.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

const shardtx = (cwd: string, ...args: string[]) => runInProcess(args, cwd)

describe('shardtx topology', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shardtx-topology-'))
  const clusters: TestCluster[] = []
  afterAll(async () => {
    await Promise.all(clusters.map((c) => c.close()))
    rmSync(dir, { recursive: true, force: true })
  })

  test('show prints the stored topology; set --to <config> changes it; usage mistakes exit 2', async () => {
    const [a, b, c] = sharedShards()
    const cluster = await startTestCluster([a!, b!])
    clusters.push(cluster)
    await cluster.cluster.transaction(async () => {})
    const { prefix, logTable } = cluster
    writeFileSync(join(dir, 'now.json'), JSON.stringify({ shards: [a, b], prefix, logTable }))
    writeFileSync(join(dir, 'next.json'), JSON.stringify({ shards: [a, { ...b, weight: 2 }, c], prefix, logTable }))
    await shardtx(dir, 'migrate', '--config', 'next.json')

    const shown = await shardtx(dir, 'topology', 'show', '--config', 'now.json')
    expect(shown.code).toBe(0)
    expect(shown.stdout).toMatch(/^epoch 1, log shard /)
    expect(shown.stdout).toMatch(new RegExp(`${b!.id}\\s+${b!.dialect}\\s+1\\s+1`))

    const set = await shardtx(dir, 'topology', 'set', '--to', 'next.json', '--config', 'now.json', '--json')
    expect(set.code).toBe(0)
    const { change } = JSON.parse(set.stdout) as { change: { from: { epoch: number }; to: { epoch: number; shards: { id: string; weight: number }[] } } }
    expect([change.from.epoch, change.to.epoch]).toEqual([1, 2])
    expect(change.to.shards.find((s) => s.id === b!.id)?.weight).toBe(2)

    const after = JSON.parse((await shardtx(dir, 'topology', 'show', '--config', 'next.json', '--json')).stdout) as {
      topology: { epoch: number; fences: { shardId: string; epoch: number }[] }
    }
    expect(after.topology.epoch).toBe(2)
    expect(after.topology.fences.map((f) => f.epoch)).toEqual([2, 2, 2])

    expect((await shardtx(dir, 'topology', '--config', 'now.json')).code).toBe(2)
    expect((await shardtx(dir, 'topology', 'set', '--config', 'now.json')).stderr).toMatch(/needs --to <config>/)
    expect((await shardtx(dir, 'topology', 'show', '--allow-empty-move', '--config', 'now.json')).code).toBe(2)
  })

  test('--to <shard> moves the log (--json), and a process configured with the old log follows; mistakes exit 2 and change nothing', async () => {
    const shards = sharedShards().filter((s) => s.id === 'pg-1' || s.id === 'my-1')
    const cluster = await startTestCluster(shards, { log: 'pg-1' })
    clusters.push(cluster)
    await cluster.cluster.transaction(async () => {})
    const { prefix, logTable } = cluster
    writeFileSync(join(dir, 'old.json'), JSON.stringify({ shards, log: 'pg-1', prefix, logTable }))

    expect((await shardtx(dir, 'topology', 'move-log', '--config', 'old.json')).stderr).toMatch(/needs --to <shard>/)
    const unknown = await shardtx(dir, 'topology', 'move-log', '--to', 'nowhere', '--config', 'old.json')
    expect([unknown.code, unknown.stderr]).toEqual([2, expect.stringMatching(/unknown shard "nowhere"/)])
    expect((await shardtx(dir, 'topology', 'move-log', '--to', 'pg-1', '--config', 'old.json')).stderr).toMatch(/is the log shard already/)
    // Removing the log shard names the way.
    writeFileSync(join(dir, 'without.json'), JSON.stringify({ shards: shards.filter((s) => s.id !== 'pg-1'), prefix, logTable }))
    const removing = await shardtx(dir, 'topology', 'set', '--to', 'without.json', '--config', 'old.json')
    expect([removing.code, removing.stderr]).toEqual([2, expect.stringMatching(/shardtx topology move-log --to <shard>/)])

    const moved = await shardtx(dir, 'topology', 'move-log', '--to', 'my-1', '--config', 'old.json', '--json')
    expect(moved.code).toBe(0)
    const { move } = JSON.parse(moved.stdout) as { move: { from: { epoch: number; logShardId: string }; to: { epoch: number; logShardId: string } } }
    expect([move.from.logShardId, move.to.logShardId, move.to.epoch]).toEqual(['pg-1', 'my-1', 2])
    const shown = await shardtx(dir, 'topology', 'show', '--config', 'old.json')
    expect(shown.stdout).toMatch(/^epoch 2, log shard my-1/)
  })
})
