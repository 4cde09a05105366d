/**
 * Lays rows out in columns under a header, two spaces apart, for terminals.
 */
export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  return [header, ...rows]
    .map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd())
    .join('\n')
}

/**
 * A duration for people: `850ms`, `42s`, `3m12s`, `2h05m`, `3d04h`.
 */
export function formatAge(ms: number | undefined): string {
  if (ms === undefined) return '?'
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`
  return `${Math.floor(s / 86_400)}d${String(Math.floor(s / 3600) % 24).padStart(2, '0')}h`
}
