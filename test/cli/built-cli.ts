import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const repo = fileURLToPath(new URL('../..', import.meta.url))

/** What one run of the CLI printed and how it exited. */
export interface CliRun {
  code: number
  stdout: string
  stderr: string
}

/** The built binary: run it with arguments in a working directory. */
export interface BuiltCli {
  bin: string
  run(args: string[], options: { cwd: string }): Promise<CliRun>
  remove(): void
}

/**
 * The `shardtx` binary compiled from this checkout the way `npm run build` does
 * (tsconfig.build.json), into a fresh folder under the repo's gitignored `.tmp/`
 * so that `node_modules` resolves and no other test's `dist/` is touched.
 * Type checking and declarations are skipped: `tsc --noEmit` checks types, and
 * neither changes the emitted JavaScript.
 *
 * ```ts
 * const cli = await buildCli()
 * const { code, stdout } = await cli.run(['route', 'user:1'], { cwd })
 * await cli.remove()
 * ```
 */
export async function buildCli(): Promise<BuiltCli> {
  const outDir = join(repo, '.tmp', `cli-test-${process.pid}-${Date.now()}`)
  mkdirSync(outDir, { recursive: true })
  const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc')
  await run(
    process.execPath,
    [tsc, '-p', 'tsconfig.build.json', '--noCheck', '--declaration', 'false', '--sourceMap', 'false', '--outDir', outDir],
    { cwd: repo },
  ).catch((error: { stdout?: string }) => {
    // Another engineer's half-edited file may not compile; the CLI's files must.
    if (!existsSync(join(outDir, 'src', 'cli', 'main.js'))) throw new Error(`build failed: ${error.stdout ?? String(error)}`)
  })
  // Where package.json's `bin` points inside `dist/`, here inside outDir.
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { bin: { shardtx: string } }
  const bin = join(outDir, pkg.bin.shardtx.replace(/^\.\/dist\//, ''))
  return {
    bin,
    run: (args, options) => runBin(bin, args, options),
    remove: () => rmSync(outDir, { recursive: true, force: true }),
  }
}

async function runBin(bin: string, args: string[], options: { cwd: string }): Promise<CliRun> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { cwd: options.cwd, timeout: 60_000 })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string }
    if (typeof failed.code !== 'number') throw error
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' }
  }
}
