import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Runs a repository script as `npm run` would, with flags only (no servers start before they are parsed). */
function run(script: string, ...args: string[]) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

// The scripts a README names, with a flag each one takes a value for.
describe.each([
  ['bench/run.ts', 'bench', '--only'],
  ['bench/ring.ts', 'bench:ring', undefined],
  ['bench/cpu-per-tx.ts', 'bench:cpu', '--against'],
  ['bench/w1-server-cpu.ts', 'bench/w1-server-cpu', '--windows'],
  ['bench/promises-per-tx.ts', 'bench/promises-per-tx', '--top'],
  ['bench/fence-statements.ts', 'bench/fence-statements', '--windows'],
  ['scripts/chaos.ts', 'chaos', '--seed'],
  ['test/model/run.ts', 'model', '--scope'],
])('%s', (script, name, valued) => {
  it('prints its flags for --help and exits 0', () => {
    const { status, stdout } = run(script, '--help')
    expect(status).toBe(0)
    expect(stdout.length).toBeGreaterThan(0)
    if (valued !== undefined) expect(stdout).toContain(valued)
  })

  it('refuses an unknown flag in one line, exit 2, no stack trace', () => {
    const { status, stdout, stderr } = run(script, '--bogus')
    expect(status).toBe(2)
    expect(stdout).toBe('')
    expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^${name}: .*bogus.*see --help$`))])
  })
})

it('bench --only lists its choices, in the help and when given another', () => {
  expect(run('bench/run.ts', '--help').stdout).toContain('--only PART    run one part only: tx | fence | recovery | memory | hotspot | reshard | telemetry')
  const { status, stderr } = run('bench/run.ts', '--only', 'everything')
  expect(status).toBe(2)
  expect(stderr.trim()).toBe("bench: --only must be one of: tx, fence, recovery, memory, hotspot, reshard, telemetry (got 'everything'); see --help")
})
