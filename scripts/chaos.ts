/**
 * The chaos bank test: transfers between accounts on 2 PostgreSQL + 2 MariaDB
 * shards while worker processes and shard servers are SIGKILLed at random, then
 * a full audit. Prints its figures and exits 1 on any violation.
 *
 * ```sh
 * npx tsx scripts/chaos.ts --duration 8m --seed 42
 * ```
 */
import { CHAOS_HELP, chaosCommand, parseChaosFlags } from './chaos/chaos-options.js'
import { formatChaosReport, runChaos } from './chaos/run-chaos.js'

const argv = process.argv.slice(2)
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(CHAOS_HELP)
  process.exit(0)
}

let options
try {
  options = parseChaosFlags(argv)
} catch (error) {
  process.stderr.write(`chaos: ${(error as Error).message}\n`)
  process.exit(2)
}

const command = chaosCommand(options)
console.log(`chaos: seed ${options.seed}\n  ${command}`)
let code: number
try {
  const report = await runChaos(options, (line) => console.log(line))
  console.log(formatChaosReport(report, command))
  code = report.passed ? 0 : 1
} catch (error) {
  console.error(`chaos: the run itself failed (seed ${options.seed}):`, error)
  code = 2
}
// Exit now: the report is out and every cluster, server and child is closed. Left to
// end on its own, the process was once seen spinning at 100% CPU in Node's handle
// cleanup after its last line (node::Environment::CleanupHandles, in gdb), never
// exiting; what it waited for was not found.
process.exit(code)
