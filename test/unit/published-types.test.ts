import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const repo = fileURLToPath(new URL('../..', import.meta.url))
const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc')

/** The member names a class declaration in a .d.ts declares, constructor and `#private` included. */
function membersOf(declarations: string, className: string): string[] {
  const start = declarations.indexOf(`declare class ${className} `)
  if (start === -1) throw new Error(`no class ${className} in the declarations`)
  const body = declarations.slice(declarations.indexOf('{', start) + 1)
  const members: string[] = []
  let depth = 0
  for (const line of body.split('\n')) {
    const trimmed = line.trim()
    if (depth === 0 && trimmed === '}') break
    if (depth === 0 && !trimmed.startsWith('*') && !trimmed.startsWith('/')) {
      const name = /^(?:readonly |get |set |static )*(#?[A-Za-z_$][\w$]*)/.exec(trimmed)?.[1]
      if (name !== undefined) members.push(name)
    }
    depth += (line.match(/[{(]/g) ?? []).length - (line.match(/[})]/g) ?? []).length
  }
  return members
}

/**
 * The published `Transaction` type is the callback's API and nothing more: the
 * protocol's side (branches, state changes, abort, the callback runner) lives in
 * a context the declarations never show.
 */
describe('the published declarations', () => {
  let outDir: string
  let transaction: string

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'shardtx-dts-'))
    await promisify(execFile)(
      process.execPath,
      [tsc, '-p', 'tsconfig.build.json', '--emitDeclarationOnly', '--sourceMap', 'false', '--outDir', outDir],
      { cwd: repo },
    )
    transaction = await readFile(join(outDir, 'src', 'transaction', 'transaction.d.ts'), 'utf8')
  }, 180_000)
  afterAll(async () => {
    if (outDir !== undefined) await rm(outDir, { recursive: true, force: true })
  })

  it('give Transaction only its public members', () => {
    expect(membersOf(transaction, 'Transaction').sort()).toEqual(
      ['#private', 'afterCommit', 'afterRollback', 'constructor', 'deadline', 'forKey', 'forShard', 'id', 'shards', 'state', 'table'].sort(),
    )
    for (const internal of ['branch', 'openedBranches', 'setState', 'abort', 'runCallback', 'runOutcomeHooks', 'settled', 'logger', 'abortReason']) {
      expect(transaction).not.toMatch(new RegExp(`^\\s+(readonly |get )?${internal}\\b`, 'm'))
    }
    expect(transaction).not.toMatch(/\bBranch\b|\bParticipant\b/)
  })
})
