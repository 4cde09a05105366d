import { accessSync, constants, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { Cluster } from '../../cluster.js'
import { ConfigError } from '../../errors.js'
import { comparePlacementReports, type PlacementComparison } from '../../resharding/compare-placement.js'
import type { PlacementReport } from '../../resharding/placement-report.js'
import { placementReportFrom } from '../../resharding/placement-shape.js'
import { CliUsageError } from '../cli-errors.js'
import { type CliOutput, toJson } from '../cli-output.js'
import type { CommandContext } from '../command-context.js'
import { ExitCode } from '../exit-codes.js'
import { textTable } from '../text-table.js'
import { stoppableByCtrlC } from './ctrl-c.js'

/** How often `--save` rewrites its file while verify reads (and once more at the end). */
const SAVE_EVERY_MS = 1_000
/** How often a progress line is printed where stderr is not a terminal. */
const PLAIN_LINE_EVERY_MS = 5_000

/** A file named on the command line: as typed (for messages) and resolved against the working directory. */
interface NamedFile {
  shown: string
  path: string
}

/**
 * `shardtx reshard verify`: `cluster.verifyPlacement()` page by page with progress
 * on stderr; `--save` keeps the report so far in a file (rewritten atomically),
 * `--resume` goes on from one (and keeps saving to it), Ctrl-C stops at a page
 * boundary (exit 130), `--against` compares the finished report with a saved one.
 * The saved file, and the `--json` output, are `{ "placement": PlacementReport }`.
 */
export async function verifyCommand(context: CommandContext, cluster: Cluster): Promise<ExitCode> {
  const { args, out, cwd } = context
  const named = (shown: string | undefined): NamedFile | undefined => (shown === undefined ? undefined : { shown, path: resolve(cwd, shown) })
  const resumeFile = named(args.resume)
  const againstFile = named(args.against)
  const saveFile = named(args.save) ?? resumeFile
  if (againstFile !== undefined && againstFile.path === saveFile?.path) {
    throw new CliUsageError(`--against ${againstFile.shown} is the file this run saves to (--save or --resume): compare with another file`)
  }
  const resumed = resumeFile === undefined ? undefined : readReport(resumeFile, '--resume')
  if (resumed !== undefined && resumed.cursor === undefined) throw new ConfigError('--resume', `${resumeFile!.shown} holds a complete report: nothing to resume`)
  const against = againstFile === undefined ? undefined : readReport(againstFile, '--against')
  const saver = saveFile === undefined ? undefined : new ReportFile(saveFile)

  out.progress(
    resumed === undefined
      ? `reading every row of the declared sharded tables on ${cluster.shardIds.length} shards, ${counted(args.pageSize ?? 5000, 'row')} a page…`
      : `resuming at ${resumed.cursor!.table} on ${resumed.cursor!.shardId}, after ${counted(resumed.pages, 'page')} (${counted(rowsOf(resumed), 'row')} read)…`,
  )
  const view = new VerifyProgressView(out)
  const { result: report, interrupted } = await stoppableByCtrlC(
    out,
    {
      first: `interrupted: stopping at the next page boundary${saver === undefined ? '' : `; --resume ${saver.file.shown} goes on from there`} (Ctrl-C again to quit at once)`,
      again: `interrupted again: quitting now${saver === undefined ? '' : `; ${saver.file.shown} holds the progress of its last save`}`,
    },
    (signal) =>
      withResumeNamed(resumeFile, () =>
        cluster.verifyPlacement({
          ...(args.pageSize === undefined ? {} : { pageSize: args.pageSize }),
          ...(resumed === undefined ? {} : { resume: resumed.cursor! }),
          signal,
          onProgress: (r) => {
            view.update(r)
            saver?.progress(r)
          },
        }),
      ),
  )
  view.finish()
  saver?.write(report)
  const comparison = against !== undefined && report.complete ? comparePlacementReports(against, report) : undefined
  out.result({ placement: report, ...(comparison === undefined ? {} : { comparison }) }, () =>
    [placementText(report), ...(report.complete ? [] : [stoppedText(report, saver?.file)]), ...(comparison === undefined ? [] : [comparisonText(comparison, againstFile!)])].join(
      '\n\n',
    ),
  )
  if (!report.complete && interrupted) return ExitCode.Interrupted
  if (report.misplaced.length > 0) return ExitCode.Failed
  return comparison === undefined || comparison.equal ? ExitCode.Ok : ExitCode.Failed
}

/** A report read from a file the CLI saved (`--save`, or `--json` output); a ConfigError naming the flag and file otherwise. */
function readReport(file: NamedFile, flag: string): PlacementReport {
  let text: string
  try {
    text = readFileSync(file.path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new ConfigError(flag, code === 'ENOENT' ? `no such file: ${file.shown}` : `cannot read ${file.shown}: ${(error as Error).message}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new ConfigError(flag, `${file.shown} is not JSON (${(error as Error).message}); expected the output of reshard verify --json or --save`)
  }
  return placementReportFrom(json, `${flag} ${file.shown}`)
}

/** Runs `work`, naming the `--resume` file in a ConfigError about the cursor it holds (another cluster, tables or shards). */
async function withResumeNamed<T>(file: NamedFile | undefined, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    if (file === undefined || !(error instanceof ConfigError) || !error.field.startsWith('options.resume')) throw error
    const problem = error.message.slice(error.field.length + 2)
    throw new ConfigError(`--resume ${file.shown} placement.cursor${error.field.slice('options.resume'.length)}`, problem)
  }
}

/** The `--save` file: the report so far, written to a temporary file and renamed over it, so it is always whole. */
class ReportFile {
  readonly file: NamedFile
  #lastAt = Number.NEGATIVE_INFINITY

  constructor(file: NamedFile) {
    this.file = file
    try {
      accessSync(dirname(file.path), constants.W_OK)
    } catch (error) {
      throw new ConfigError('--save', `cannot write ${file.shown}: ${(error as Error).message}`)
    }
  }

  /** Saves `report` unless the last save was less than a second ago. */
  progress(report: PlacementReport): void {
    if (performance.now() - this.#lastAt >= SAVE_EVERY_MS) this.write(report)
  }

  write(report: PlacementReport): void {
    const temporary = `${this.file.path}.${process.pid}.tmp`
    try {
      writeFileSync(temporary, `${toJson({ placement: report })}\n`)
      renameSync(temporary, this.file.path)
    } catch (error) {
      throw new ConfigError('--save', `cannot write ${this.file.shown}: ${(error as Error).message}`)
    }
    this.#lastAt = performance.now()
  }
}

/** Progress on stderr: redrawn on a terminal, else a plain line every few seconds and the last one at the end. */
class VerifyProgressView {
  readonly #out: CliOutput
  #lastLineAt = Number.NEGATIVE_INFINITY
  #unprinted: string | undefined

  constructor(out: CliOutput) {
    this.#out = out
  }

  update(report: PlacementReport): void {
    const line = progressText(report)
    if (this.#out.interactive) return this.#out.redraw(line)
    this.#unprinted = line
    if (performance.now() - this.#lastLineAt < PLAIN_LINE_EVERY_MS) return
    this.#lastLineAt = performance.now()
    this.#unprinted = undefined
    this.#out.progress(line)
  }

  finish(): void {
    if (this.#unprinted !== undefined) this.#out.progress(this.#unprinted)
  }
}

function progressText(report: PlacementReport): string {
  const at = report.cursor === undefined ? 'done' : `next: ${report.cursor.table} on ${report.cursor.shardId}`
  return `verify: ${counted(report.pages, 'page')}, ${counted(rowsOf(report), 'row')} read, ${at}`
}

function placementText(report: PlacementReport): string {
  const tables = textTable(['TABLE', 'ROWS', 'CHECKSUM'], report.tables.map((t) => [t.table, String(t.rows), t.checksum]))
  const so = report.complete ? '' : ' so far'
  const counts = report.complete && !report.comparable ? `\n\ncounts not comparable: ${report.reason}` : ''
  if (report.misplaced.length === 0) return `epoch ${report.epoch}: every row${so} is on its owner\n\n${tables}${counts}`
  const rows = report.misplaced.reduce((sum, m) => sum + m.rows, 0)
  const misplaced = textTable(
    ['TABLE', 'ON', 'OWNER', 'ROWS', 'EXAMPLE KEY'],
    report.misplaced.map((m) => [m.table, m.shardId, m.owner, String(m.rows), m.example]),
  )
  return `epoch ${report.epoch}: ${rows} rows${so} are not on their owner\n\n${misplaced}\n\n${tables}${counts}`
}

function stoppedText(report: PlacementReport, saved: NamedFile | undefined): string {
  const where = `stopped after ${counted(report.pages, 'page')} (${counted(rowsOf(report), 'row')} read), before ${report.cursor!.table} on ${report.cursor!.shardId}`
  return saved === undefined
    ? `${where}; nothing was saved: run verify with --save <file> to be able to resume (or keep its --json output and --resume it)`
    : `${where}: resume with shardtx reshard verify --resume ${saved.shown}`
}

function comparisonText(comparison: PlacementComparison, file: NamedFile): string {
  const lines = [
    comparison.equal
      ? `against ${file.shown}: the same rows and checksums in every table and slot range`
      : `against ${file.shown} (before) this run (after): ${comparison.differences.length === 1 ? '1 slot range differs' : `${counted(comparison.differences.length, 'slot range')} differ`}`,
  ]
  if (comparison.differences.length > 0) {
    const rows = comparison.differences.map((d) => [d.table, `${d.first}-${d.last}`, String(d.before.rows), String(d.after.rows), d.before.checksum, d.after.checksum])
    lines.push('', textTable(['TABLE', 'SLOTS', 'ROWS BEFORE', 'ROWS AFTER', 'CHECKSUM BEFORE', 'CHECKSUM AFTER'], rows))
  }
  if (comparison.problems.length > 0) lines.push('', 'cannot compare:', ...comparison.problems.map((p) => `  ${p}`))
  return lines.join('\n')
}

function rowsOf(report: PlacementReport): number {
  return report.tables.reduce((sum, t) => sum + t.rows, 0)
}

/** `1 page`, `1,200 pages` */
function counted(n: number, what: string): string {
  return `${n.toLocaleString('en-US')} ${what}${n === 1 ? '' : 's'}`
}
