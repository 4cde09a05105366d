import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cluster, createCluster, type ShardConfig } from '../../src/index.js'
import { closedPort } from '../reliability/leak-checks.js'
import { sharedShards } from '../support/shared-cluster.js'
import { runInProcess } from './in-process-cli.js'

describe('recover with two shards down, the log shard one of them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shardtx-recover-down-'))
  const config = join(dir, 'shardtx.config.json')
  let shards: ShardConfig[]
  let cluster: Cluster

  beforeAll(async () => {
    const down = async (id: string, dialect: 'postgres' | 'mysql'): Promise<ShardConfig> => ({
      id,
      dialect,
      connection: { host: '127.0.0.1', port: await closedPort(), user: 'app', database: 'shardtx' },
    })
    shards = [await down('down-log', 'postgres'), await down('down-my', 'mysql'), ...sharedShards()]
    const options = { shards, log: 'down-log', prefix: 'rdown_', logTable: 'rdown_log', recovery: false as const }
    writeFileSync(config, JSON.stringify(options))
    cluster = createCluster(options)
  })
  afterAll(async () => {
    await cluster?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('cluster.recover() names both, each with its reason, and no shard that answered', async () => {
    const report = await cluster.recover()
    expect(report.failed.map((f) => f.shardId).sort()).toEqual(['down-log', 'down-my'])
    for (const failure of report.failed) expect(failure.error).toMatch(/ECONNREFUSED/)
  })

  it('shardtx recover exits 3 naming both, in text and in --json', async () => {
    const [text, json] = await Promise.all([
      runInProcess(['recover', '--config', config], dir),
      runInProcess(['recover', '--config', config, '--json'], dir),
    ])
    expect(text.code).toBe(3)
    expect(text.stdout).toMatch(/unreachable: .*down-log \(.*ECONNREFUSED.*\).*down-my \(.*ECONNREFUSED.*\)|unreachable: .*down-my \(.*ECONNREFUSED.*\).*down-log \(/)
    expect(json.code).toBe(3)
    const answer = JSON.parse(json.stdout) as { failed: { shardId: string }[]; unreachable: { shardId: string; error: string }[] }
    expect(answer.unreachable.map((u) => u.shardId).sort()).toEqual(['down-log', 'down-my'])
    expect(answer.failed.map((f) => f.shardId).sort()).toEqual(['down-log', 'down-my'])
  })
})
