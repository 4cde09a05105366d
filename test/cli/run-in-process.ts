import { runCli } from '../../src/cli/run-cli.js'

/**
 * The same entry point the binary runs (cli.test.ts runs the built binary), in
 * process, so that a matrix of command lines costs no process start each.
 *
 * ```ts
 * const { code, stdout } = await runCliInProcess(['topology', 'show'], dir)
 * ```
 */
export async function runCliInProcess(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await runCli(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    cwd,
  })
  return { code, stdout, stderr }
}
