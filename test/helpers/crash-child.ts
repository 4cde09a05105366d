import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

/**
 * Runs `script` in a child process (under tsx) with `plan` as JSON in the
 * environment variable `envName`, until it prints `PAUSED` at its crash point;
 * then SIGKILLs it. Resolves when it has exited, with whether it was killed and
 * every line it printed.
 */
export function crashChild(script: string, envName: string, plan: unknown): Promise<{ killed: boolean; lines: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, [envName]: JSON.stringify(plan) },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const lines: string[] = []
  let killed = false
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line)
    if (line === 'PAUSED' && !killed) {
      killed = true
      child.kill('SIGKILL')
    }
  })
  return new Promise((resolve) => child.on('exit', () => resolve({ killed, lines })))
}
