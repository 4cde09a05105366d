import type { ReshardProgress } from '../../resharding/reshard-progress.js'
import type { CliOutput } from '../cli-output.js'
import { formatAge } from '../text-table.js'

/** How often a progress line is printed where stderr is not a terminal (a log file, CI). */
const PLAIN_LINE_EVERY_MS = 5_000
const BAR_WIDTH = 30

/**
 * Shows a mover's progress: with `--json` one NDJSON event per batch on stdout;
 * on a terminal a bar redrawn on stderr; elsewhere a plain line on stderr at the
 * start, every few seconds and at the end; nothing with `--quiet`.
 */
export class ReshardProgressView {
  readonly #out: CliOutput
  readonly #now: () => number
  #lastLineAt: number | undefined
  #last: ReshardProgress | undefined
  /** Batches done when this mover began: a reversal's bar fills as they go back. */
  #doneAtStart: number | undefined

  constructor(out: CliOutput, now: () => number = () => performance.now()) {
    this.#out = out
    this.#now = now
  }

  update(progress: ReshardProgress): void {
    this.#last = progress
    this.#doneAtStart ??= progress.done
    if (this.#out.mode.json) return this.#out.event({ event: 'progress', job: progress })
    if (this.#out.interactive) return this.#out.redraw(progressBar(progress, this.#share(progress)))
    const now = this.#now()
    if (this.#lastLineAt !== undefined && now - this.#lastLineAt < PLAIN_LINE_EVERY_MS && !atEnd(progress)) return
    this.#lastLineAt = now
    this.#out.progress(progressLine(progress))
  }

  /** How much of this mover's work is done, in [0, 1]. */
  #share(p: ReshardProgress): number {
    if (isReversal(p)) return this.#doneAtStart === 0 ? 1 : 1 - p.done / this.#doneAtStart!
    return p.total === 0 ? 1 : p.done / p.total
  }

  /** The last state as a plain line if the periodic lines skipped it (the bar shows it already). */
  finish(): void {
    const last = this.#last
    if (last === undefined || this.#out.mode.json || this.#out.interactive || atEnd(last)) return
    this.#out.progress(progressLine(last))
  }
}

function isReversal(p: ReshardProgress): boolean {
  return p.state === 'reversing' || p.state === 'reversed'
}

function atEnd(p: ReshardProgress): boolean {
  return isReversal(p) ? p.done === 0 : p.done === p.total
}

/** `[#########.....................] running: batch 3/10, 1,200 rows moved, …` with `share` of the bar filled. */
export function progressBar(p: ReshardProgress, share: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, share)) * BAR_WIDTH)
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${progressLine(p)}`
}

/** `running: batch 3/10, 1,200 rows moved, 800 left, 450 rows/s, ETA 12s` */
export function progressLine(p: ReshardProgress): string {
  const rate = p.rowsPerSecond === undefined ? '' : `, ${count(p.rowsPerSecond)} rows/s`
  // At the end nothing is left (a reversed job's rowsLeft counts every batch of its plan again).
  const left = atEnd(p) ? '' : `, ${count(p.rowsLeft)} left`
  const eta = p.etaMs === undefined || atEnd(p) ? '' : `, ETA ${formatAge(p.etaMs)}`
  return `${p.state}: batch ${p.done}/${p.total}, ${count(p.rowsMoved)} rows moved${left}${rate}${eta}`
}

function count(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}
