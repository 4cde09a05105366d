/**
 * The model check from the command line: per scenario, the states explored,
 * transitions, time and the verdict, with a counterexample trace on failure.
 *
 * ```sh
 * npx tsx test/model/run.ts --scope large
 * npx tsx test/model/run.ts --scope quick --bug recovererAbortsWithoutFence   # watch it fail
 * ```
 * `--scope reshard` (or `reshard-large`) runs the resharding model of
 * test/model/reshard/ instead, with its own seeded bugs for `--bug`;
 * `--scope movelog` (or `movelog-large`) the log-move model of test/model/movelog/.
 * `--scope` defaults to `SHARDTX_MODEL_SCOPE`, then `quick`. `--only <text>`
 * keeps the scenarios whose name contains the text. `--decide-error
 * in-doubt|fence|fence-and-check` overrides what every scenario's coordinator
 * does after a connection error on the decision write (see `ModelScope`).
 * Exit code 1 on a violation.
 */
import { scriptFlags } from '../../scripts/script-flags.js'
import { check, formatViolation } from './explorer.js'
import { scopesNamed, type SeededBugs } from './model-scope.js'
import { checkReshard } from './reshard/reshard-explorer.js'
import { largeReshardScopes, reshardScopes, type ReshardBugs } from './reshard/reshard-scope.js'
import { checkMoveLog, type MoveLogVerdict } from './movelog/movelog-explorer.js'
import { largeMoveLogScopes, type MoveLogBugs, moveLogScopes } from './movelog/movelog-scope.js'

const seededBugs: ReadonlyArray<keyof SeededBugs> = [
  'recovererAbortsWithoutFence',
  'forgetBeforeAllCommitted',
  'coordinatorIgnoresInsertResult',
  'forgetWithoutReachingAll',
  'commitRecordsReadAfterListing',
  'prepareReadOnlyBranches',
  'rollbackOnDecideError',
  'expireAbortsEarly',
  'sentTakenForUnsent',
]

const reshardBugs: ReadonlyArray<keyof ReshardBugs> = [
  'neverRefuse',
  'refuseOnlyTwoBehind',
  'raiseSourceOnly',
  'raiseDestinationOnly',
  'skipPreparedDrain',
  'skipDoneCas',
  'routerIgnoresFrozen',
  'freezeSkipsSourceRaise',
  'moveSkipsFinalHold',
  'unfreezeAnyEpoch',
  'idleIgnoresFrozen',
]

const moveLogBugs: ReadonlyArray<keyof MoveLogBugs> = ['recovererUsesOwnLog', 'moveSkipsHoldOfX', 'fenceReadBeforeListing']

const decideErrors = ['in-doubt', 'fence', 'fence-and-check'] as const
const HELP = `npx tsx test/model/run.ts [flags]   (npm run model: the large scope)

The model check of the commit and recovery protocol, scenario by scenario.

  --scope quick|large   which scenarios (default SHARDTX_MODEL_SCOPE, then quick)
  --scope reshard|reshard-large
                        the resharding model (test/model/reshard/) instead
  --scope movelog|movelog-large
                        the log-move model (test/model/movelog/) instead
  --only TEXT           keep the scenarios whose name contains TEXT
  --bug NAME            switch a seeded bug on (repeatable): ${seededBugs.join(', ')};
                        with --scope reshard*: ${reshardBugs.join(', ')};
                        with --scope movelog*: ${moveLogBugs.join(', ')}
  --decide-error KIND   what every coordinator does after an error on the decision
                        write: ${decideErrors.join(', ')}
  -h, --help            this text

Exit code 1 on a violation, 2 on a bad flag.`
const values = scriptFlags(
  'model',
  HELP,
  {
    scope: { type: 'string', default: process.env.SHARDTX_MODEL_SCOPE ?? 'quick' },
    bug: { type: 'string', multiple: true, default: [] },
    only: { type: 'string' },
    'decide-error': { type: 'string' },
  },
  { scope: ['quick', 'large', 'reshard', 'reshard-large', 'movelog', 'movelog-large'], bug: [...seededBugs, ...reshardBugs, ...moveLogBugs], 'decide-error': decideErrors },
)
type DecideError = (typeof decideErrors)[number]
const decideError = values['decide-error'] as DecideError | undefined

if (values.scope.startsWith('reshard')) {
  runReshard()
} else if (values.scope.startsWith('movelog')) {
  runMoveLog()
} else {
  runCommitProtocol()
}

function runReshard(): void {
  runSmallModel('the resharding model', reshardBugs, values.scope === 'reshard' ? reshardScopes : largeReshardScopes, checkReshard)
}

function runMoveLog(): void {
  runSmallModel('the log-move model', moveLogBugs, values.scope === 'movelog' ? moveLogScopes : largeMoveLogScopes, checkMoveLog)
}

/** The models whose explorer answers a verdict with a trace (resharding, log move): every scope, its counts and verdict. */
function runSmallModel<Scope extends { name: string }, Bugs extends object>(
  what: string,
  bugNames: readonly string[],
  allScopes: readonly Scope[],
  check: (scope: Scope & { bugs: Bugs }) => MoveLogVerdict,
): void {
  const bugs: Record<string, boolean> = {}
  for (const name of values.bug) {
    if (!bugNames.includes(name)) {
      process.stderr.write(`model: --bug ${name} is not a seeded bug of ${what}; see --help\n`)
      process.exit(2)
    }
    bugs[name] = true
  }
  let failed = false
  let states = 0
  let ms = 0
  const scopes = allScopes.filter((s) => values.only === undefined || s.name.includes(values.only))
  for (const scope of scopes) {
    const result = check({ ...scope, bugs: bugs as Bugs })
    states += result.states
    ms += result.ms
    const verdict = result.violation ? 'VIOLATION' : result.alwaysFinishes ? 'ok' : 'STUCK'
    console.log(
      `${scope.name}: ${result.states.toLocaleString('en')} states, ${result.transitions.toLocaleString('en')} transitions, ${(result.ms / 1000).toFixed(1)} s: ${verdict}`,
    )
    if (result.violation) {
      failed = true
      console.log(result.trace.map((step, i) => `  ${String(i + 1).padStart(3)}. ${step}`).join('\n'))
      console.log(`  → ${result.violation}`)
    } else if (!result.alwaysFinishes) {
      failed = true
      console.log(`  a run that cannot go on and is not finished:\n${result.stuck!.replace(/^/gm, '    ')}`)
    }
  }
  console.log(`${values.scope} scope: ${states.toLocaleString('en')} states in ${(ms / 1000).toFixed(1)} s: ${failed ? 'VIOLATION' : 'all invariants hold'}`)
  process.exitCode = failed ? 1 : 0
}

function runCommitProtocol(): void {
  const bugs: SeededBugs = {}
  for (const name of values.bug) {
    if (!(seededBugs as readonly string[]).includes(name)) {
      process.stderr.write(`model: --bug ${name} is a seeded bug of the resharding model (--scope reshard); see --help\n`)
      process.exit(2)
    }
    bugs[name as keyof SeededBugs] = true
  }

  let failed = false
  let states = 0
  let ms = 0
  const scopes = scopesNamed(values.scope).filter((s) => values.only === undefined || s.name.includes(values.only))
  for (const scope of scopes) {
    const result = check({ ...scope, bugs, ...(decideError ? { decideError } : {}) })
    states += result.states
    ms += result.ms
    const verdict = result.violation ? 'VIOLATION' : 'ok'
    console.log(
      `${scope.name}: ${result.states.toLocaleString('en')} states, ${result.transitions.toLocaleString('en')} transitions, ` +
        `${result.quiescentStates.toLocaleString('en')} recovery completions, ${(result.ms / 1000).toFixed(1)} s: ${verdict}`,
    )
    if (result.violation) {
      failed = true
      console.log(formatViolation(result.violation).replace(/^/gm, '  '))
    }
  }
  console.log(`${values.scope} scope: ${states.toLocaleString('en')} states in ${(ms / 1000).toFixed(1)} s: ${failed ? 'VIOLATION' : 'all invariants hold'}`)
  process.exitCode = failed ? 1 : 0
}
