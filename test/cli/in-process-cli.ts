import { runCli } from '../../src/cli/run-cli.js'
import type { CliRun } from './built-cli.js'

/**
 * Runs a `shardtx` command line in this process, through the same entry point the
 * binary runs (cli.test.ts runs the built binary): a matrix of cases costs no
 * process start each.
 *
 * ```ts
 * const { code, stderr } = await runInProcess(['resolve', txId, 'abort', '--config', file], dir)
 * ```
 */
export async function runInProcess(args: string[], cwd: string): Promise<CliRun> {
  let stdout = ''
  let stderr = ''
  const code = await runCli(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    cwd,
  })
  return { code, stdout, stderr }
}
