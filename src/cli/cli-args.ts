import { parseArgs } from 'node:util'
import { CliUsageError } from './cli-errors.js'

/**
 * The commands of `shardtx`, as typed on the command line.
 */
export const COMMANDS = ['status', 'in-doubt', 'recover', 'resolve', 'route', 'migrate', 'topology', 'reshard'] as const
export type CommandName = (typeof COMMANDS)[number]

/**
 * The parsed command line of `shardtx`.
 */
export interface CliArgs {
  command: CommandName | undefined
  positionals: string[]
  config: string | undefined
  json: boolean
  quiet: boolean
  verbose: boolean
  help: boolean
  /** route: read keys as integers / bigints. */
  int: boolean
  bigint: boolean
  /** migrate: your migrations on every shard rather than the log table. */
  shards: boolean
  directory: string | undefined
  table: string | undefined
  only: string[] | undefined
  /**
   * topology set, reshard: the config whose shard list is the target; topology move-log: the
   * shard to move the log to; topology set: whether slots of empty sharded tables may move.
   */
  to: string | undefined
  allowEmptyMove: boolean
  /** reshard: rows per batch (plan, start), share of the time the mover works, batches to run before stopping. */
  batchSize: number | undefined
  dutyCycle: number | undefined
  maxBatches: number | undefined
  /** reshard verify: rows per page, the file the progress is saved to, the saved progress to resume, the saved report to compare with. */
  pageSize: number | undefined
  save: string | undefined
  resume: string | undefined
  against: string | undefined
  /** resolve: fence an abort even for an id no shard and no log record knows. */
  force: boolean
}

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
  int: { type: 'boolean' },
  bigint: { type: 'boolean' },
  shards: { type: 'boolean' },
  directory: { type: 'string', short: 'd' },
  table: { type: 'string' },
  only: { type: 'string' },
  to: { type: 'string' },
  'allow-empty-move': { type: 'boolean' },
  'batch-size': { type: 'string' },
  'duty-cycle': { type: 'string' },
  'max-batches': { type: 'string' },
  'page-size': { type: 'string' },
  save: { type: 'string' },
  resume: { type: 'string' },
  against: { type: 'string' },
  force: { type: 'boolean' },
} as const

const GLOBAL_FLAGS = { config: true, json: true, quiet: true, verbose: true, help: true }

/** Flags a command takes besides the global ones; any other is a usage error. */
const COMMAND_FLAGS: Record<CommandName, (keyof typeof OPTIONS)[]> = {
  status: [],
  'in-doubt': [],
  recover: [],
  resolve: ['force'],
  route: ['int', 'bigint'],
  migrate: ['shards', 'directory', 'table', 'only'],
  topology: ['to', 'allow-empty-move'],
  reshard: ['to', 'batch-size', 'duty-cycle', 'max-batches', 'page-size', 'save', 'resume', 'against'],
}

const TOPOLOGY_USAGE = 'topology show | set --to <config> [--allow-empty-move] | move-log --to <shard>'

/** How many positionals each command takes: [min, max]. */
const ARITY: Record<CommandName, [number, number, string]> = {
  status: [0, 0, 'status'],
  'in-doubt': [0, 0, 'in-doubt'],
  recover: [0, 0, 'recover'],
  resolve: [2, 2, 'resolve <txId> commit|abort [--force]'],
  route: [1, Infinity, 'route <key>...'],
  migrate: [0, 0, 'migrate [--shards [--directory dir] [--table name] [--only ids]]'],
  topology: [1, 1, TOPOLOGY_USAGE],
  reshard: [1, 1, 'reshard plan | start | status | verify | cancel | reverse (see shardtx --help)'],
}

const RESHARD_USAGE =
  'usage: shardtx reshard plan --to <config> [--batch-size N] | start --to <config> [--batch-size N] [--duty-cycle X] [--max-batches N] | status | verify [--to <config>] [--page-size N] [--save file] [--resume file] [--against file] | cancel | reverse [--to <config>] [--duty-cycle X] [--max-batches N]'

/** The flags each reshard verb takes, and whether it needs, may take or refuses --to. */
const RESHARD_FLAGS: Record<string, { to: 'required' | 'optional' | 'none'; flags: string[] }> = {
  plan: { to: 'required', flags: ['batch-size'] },
  start: { to: 'required', flags: ['batch-size', 'duty-cycle', 'max-batches'] },
  status: { to: 'none', flags: [] },
  verify: { to: 'optional', flags: ['page-size', 'save', 'resume', 'against'] },
  cancel: { to: 'none', flags: [] },
  reverse: { to: 'optional', flags: ['duty-cycle', 'max-batches'] },
}

/**
 * Parses and checks the arguments; every mistake is a {@link CliUsageError} (exit 2).
 */
export function parseCliArgs(argv: string[]): CliArgs {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true })
  } catch (error) {
    // One line: Node spreads some of these (an option value that starts with a dash) over three.
    const message = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ')
    throw new CliUsageError(`${message}; see shardtx --help`)
  }
  const { values, positionals } = parsed
  const [name, ...rest] = positionals
  const args: CliArgs = {
    command: undefined,
    positionals: rest,
    config: values.config,
    json: values.json ?? false,
    quiet: values.quiet ?? false,
    verbose: values.verbose ?? false,
    help: values.help ?? false,
    int: values.int ?? false,
    bigint: values.bigint ?? false,
    shards: values.shards ?? false,
    directory: values.directory,
    table: values.table,
    only: values.only?.split(',').map((id) => id.trim()).filter((id) => id !== ''),
    to: values.to,
    allowEmptyMove: values['allow-empty-move'] ?? false,
    batchSize: undefined,
    dutyCycle: undefined,
    maxBatches: undefined,
    pageSize: undefined,
    save: values.save,
    resume: values.resume,
    against: values.against,
    force: values.force ?? false,
  }
  if (args.help) return args
  if (name === undefined) throw new CliUsageError('no command given; see shardtx --help')
  if (!(COMMANDS as readonly string[]).includes(name)) {
    throw new CliUsageError(`unknown command "${name}" (commands: ${COMMANDS.join(', ')}); see shardtx --help`)
  }
  const command = name as CommandName
  args.command = command
  for (const flag of Object.keys(values) as (keyof typeof OPTIONS)[]) {
    if (flag in GLOBAL_FLAGS) continue
    if (!COMMAND_FLAGS[command].includes(flag)) throw new CliUsageError(`${command} takes no --${flag}; see shardtx --help`)
  }
  const [min, max, usage] = ARITY[command]
  if (rest.length < min || rest.length > max) throw new CliUsageError(`usage: shardtx ${usage}`)
  if (command === 'topology') checkTopologyArgs(args)
  if (command === 'reshard') checkReshardArgs(args, values)
  if (args.int && args.bigint) throw new CliUsageError('route takes --int or --bigint, not both')
  if (!args.shards && (args.directory !== undefined || args.table !== undefined || args.only !== undefined)) {
    throw new CliUsageError('--directory, --table and --only go with migrate --shards')
  }
  return args
}

function checkTopologyArgs(args: CliArgs): void {
  const [verb] = args.positionals
  if (verb !== 'show' && verb !== 'set' && verb !== 'move-log') throw new CliUsageError(`usage: shardtx ${TOPOLOGY_USAGE}`)
  if (verb === 'set' && args.to === undefined) throw new CliUsageError('topology set needs --to <config>, the config whose shards are the new topology')
  if (verb === 'move-log' && (args.to === undefined || args.to === '')) throw new CliUsageError('topology move-log needs --to <shard>, the id of the shard to move the log to')
  if (verb === 'move-log' && args.allowEmptyMove) throw new CliUsageError('--allow-empty-move goes with topology set')
  if (verb === 'show' && (args.to !== undefined || args.allowEmptyMove)) throw new CliUsageError('--to and --allow-empty-move go with topology set or move-log')
}

function checkReshardArgs(args: CliArgs, values: Record<string, string | boolean | undefined>): void {
  const [verb] = args.positionals
  const allowed = RESHARD_FLAGS[verb!]
  if (allowed === undefined) throw new CliUsageError(RESHARD_USAGE)
  if (allowed.to === 'required' && args.to === undefined) throw new CliUsageError(`reshard ${verb} needs --to <config>, the config whose shards are the new topology`)
  if (allowed.to === 'none' && args.to !== undefined) throw new CliUsageError(`reshard ${verb} takes no --to`)
  for (const flag of ['batch-size', 'duty-cycle', 'max-batches', 'page-size', 'save', 'resume', 'against']) {
    if (values[flag] === undefined || allowed.flags.includes(flag)) continue
    // A resumed or reversed job moves the batches it was planned with: a new size would be silently ignored.
    const why = verb === 'reverse' && flag === 'batch-size' ? ': it moves back the batches the job was planned with' : ''
    throw new CliUsageError(`reshard ${verb} takes no --${flag}${why}`)
  }
  args.batchSize = wholeNumber('--batch-size', values['batch-size'] as string | undefined)
  args.dutyCycle = shareOfTime('--duty-cycle', values['duty-cycle'] as string | undefined)
  args.maxBatches = wholeNumber('--max-batches', values['max-batches'] as string | undefined)
  args.pageSize = wholeNumber('--page-size', values['page-size'] as string | undefined)
  for (const flag of ['save', 'resume', 'against'] as const) {
    if (args[flag] === '') throw new CliUsageError(`--${flag} needs a file name`)
  }
}

/** A flag's value as a whole number of at least 1, or a usage error naming the flag and what it got. */
function wholeNumber(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) throw new CliUsageError(`${flag} must be a whole number of at least 1, not "${text}"`)
  return n
}

/** A flag's value as a number in (0, 1]. */
function shareOfTime(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!/^(\d+\.?\d*|\.\d+)$/.test(text) || !(n > 0 && n <= 1)) throw new CliUsageError(`${flag} must be a number above 0 and at most 1, not "${text}"`)
  return n
}
