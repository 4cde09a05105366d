import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cluster, createCluster } from '../../src/index.js'
import { BranchFactory } from '../helpers/abandoned-branches.js'
import { sharedShards } from '../support/shared-cluster.js'
import type { CliRun } from './built-cli.js'

const exec = promisify(execFile)
const repo = fileURLToPath(new URL('../..', import.meta.url))

/** The README's CLI lines, as written there, from the first ```sh block of its "## CLI" section. */
function readmeCliLines(readme: string): string[] {
  const section = readme.slice(readme.indexOf('\n## CLI\n'))
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!
  return block
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line.startsWith('npx shardtx'))
}

/**
 * What each README line must exit with here, where one transaction is in doubt until the
 * README's `resolve` line: `status` and `in-doubt` (which come before it) exit 1 while one
 * is, as the README says; every other line exits 0.
 */
function expectedExit(line: string): number {
  return /^npx shardtx (in-doubt|status)\b/.test(line) ? 1 : 0
}

async function sh(line: string, cwd: string): Promise<CliRun> {
  try {
    // A bound for a hang only: the first npx in a new clone sets up its link, which takes
    // seconds on an idle machine and minutes on a loaded one.
    const { stdout, stderr } = await exec('sh', ['-c', line], { cwd, timeout: 300_000 })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string }
    if (typeof failed.code !== 'number') throw error
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' }
  }
}

/**
 * A clean clone of this checkout's HEAD, used the way the README says. The install
 * step reuses this checkout's node_modules (an `npm ci` from the npm cache costs a
 * minute more of the suite) and then runs the `prepare` script, which is the part
 * of `npm install` / `npm ci` this package adds: without it a clone has no dist/.
 */
describe('a fresh clone, followed as the README says', () => {
  const s = randomBytes(4).toString('hex')
  const prefix = `fc${s}_`
  const logTable = `log_fc${s}`
  const migrationTable = `fresh_clone_${s}`
  const dir = mkdtempSync(join(tmpdir(), 'shardtx-clone-'))
  const clone = join(dir, 'shardtx')
  let cluster: Cluster
  let branches: BranchFactory
  let inDoubtTxId: string

  beforeAll(async () => {
    const { stdout: head } = await exec('git', ['-C', repo, 'rev-parse', 'HEAD'])
    await exec('git', ['clone', '--quiet', '--no-checkout', repo, clone])
    await exec('git', ['-C', clone, 'checkout', '--quiet', head.trim()])
    symlinkSync(join(repo, 'node_modules'), join(clone, 'node_modules'))
    await exec('npm', ['run', 'prepare'], { cwd: clone, timeout: 600_000 })

    writeFileSync(join(clone, 'shardtx.config.json'), JSON.stringify({ shards: sharedShards(), prefix, logTable }))
    mkdirSync(join(clone, 'db', 'migrations'), { recursive: true })
    writeFileSync(
      join(clone, 'db', 'migrations', `001_${migrationTable}.mjs`),
      `export const up = (knex) => knex.schema.createTable('${migrationTable}', (t) => t.integer('id'))\n` +
        `export const down = (knex) => knex.schema.dropTable('${migrationTable}')\n`,
    )
    cluster = createCluster({ shards: sharedShards(), prefix, logTable, recovery: false })
    // The in-doubt transaction the README's `resolve <txId> abort` settles: a coordinator that died after PREPARE.
    branches = new BranchFactory(sharedShards(), prefix)
    inDoubtTxId = BranchFactory.oldTxId()
    await branches.prepare('pg-1', inDoubtTxId)
  }, 900_000)

  afterAll(async () => {
    await branches?.close()
    if (cluster !== undefined) {
      await cluster.recover().catch(() => {})
      for (const shardId of cluster.shardIds) {
        for (const table of [migrationTable, 'knex_migrations', 'knex_migrations_lock', logTable, `${logTable}_migrations`, `${logTable}_migrations_lock`]) {
          await cluster.forShard(shardId).schema.dropTableIfExists(table)
        }
      }
      await cluster.close()
    }
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 })
  })

  it('the install builds what package.json exports and bin point at, the bin executable', () => {
    const pkg = JSON.parse(readFileSync(join(clone, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>
      bin: { shardtx: string }
      exports: Record<string, { default: string } | string>
    }
    expect(pkg.scripts.prepare).toBeDefined()
    for (const target of Object.values(pkg.exports)) {
      expect(existsSync(join(clone, typeof target === 'string' ? target : target.default))).toBe(true)
    }
    expect(statSync(join(clone, pkg.bin.shardtx)).mode & 0o111).not.toBe(0)
  })

  it("`import 'shardtx'` and `'shardtx/testing'` work inside the clone", async () => {
    const script = "const [a, b] = await Promise.all([import('shardtx'), import('shardtx/testing')]); console.log(typeof a.createCluster, typeof b.startLocalCluster)"
    const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], { cwd: clone })
    expect(stdout.trim()).toBe('function function')
  })

  it("runs every CLI line of the README in the clone's root, in order, each with the exit code it documents", async () => {
    const lines = readmeCliLines(readFileSync(join(clone, 'README.md'), 'utf8'))
    expect(lines.length).toBeGreaterThanOrEqual(5)
    const outcomes: { line: string; code: number }[] = []
    for (const line of lines) {
      const run = await sh(line.replace('<txId>', inDoubtTxId), clone)
      outcomes.push({ line, code: run.code })
      if (run.code !== expectedExit(line)) throw new Error(`"${line}" exited ${run.code}:\n${run.stdout}\n${run.stderr}`)
      if (/in-doubt --json/.test(line)) expect(JSON.parse(run.stdout)).toMatchObject({ branches: [{ txId: inDoubtTxId, shardId: 'pg-1' }] })
    }
    expect(outcomes.map((o) => o.code)).toEqual(lines.map(expectedExit))
    // Settled by the README's resolve line, and the README's shard migration ran on every shard.
    expect(await cluster.inDoubt()).toEqual([])
    for (const shardId of cluster.shardIds) expect(await cluster.forShard(shardId).schema.hasTable(migrationTable)).toBe(true)
  }, 900_000)
})
