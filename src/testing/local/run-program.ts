import { spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync, statSync } from 'node:fs'
import { LocalClusterError } from '../local-cluster-errors.js'
import { logExcerpt } from './log-excerpt.js'
import type { RunAs } from './run-as.js'

/**
 * Runs a short-lived program (initdb, mariadb-install-db, psql) to
 * completion, appending its output to `logFile`; a failure quotes that output.
 */
export async function runProgram(
  command: string,
  args: readonly string[],
  options: { cwd: string; logFile: string; runAs: RunAs; timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<void> {
  const log = openSync(options.logFile, 'a')
  const offset = statSync(options.logFile).size
  let outcome: string | undefined
  try {
    const child = spawn(command, args, {
      cwd: options.cwd,
      stdio: ['ignore', log, log],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: 'UTC', ...options.env },
      timeout: options.timeoutMs,
      killSignal: 'SIGKILL',
      ...(options.runAs ?? {}),
    })
    outcome = await new Promise<string | undefined>((resolve) => {
      child.once('error', (error) => resolve(error.message))
      child.once('exit', (code, signal) =>
        resolve(code === 0 ? undefined : signal ? `killed by ${signal}` : `exited with code ${code}`),
      )
    })
  } finally {
    closeSync(log)
  }
  if (outcome !== undefined) {
    const output = logExcerpt(readFileSync(options.logFile, 'utf8').slice(offset))
    throw new LocalClusterError('LOCAL_CLUSTER_START', `${command} ${args.join(' ')}: ${outcome}; output:\n${output}`)
  }
}
