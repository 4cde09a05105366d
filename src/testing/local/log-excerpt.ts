const ERROR_LINE = /\[ERROR\]|\bFATAL\b|\bPANIC\b|\berror:|\bERROR\b/

/**
 * The part of a server or tool log worth putting in an error message: the
 * lines that say ERROR/FATAL (tools such as mariadb-install-db bury them
 * under a page of advice), then the last lines.
 */
export function logExcerpt(text: string, tailLines = 12): string {
  const lines = text.trimEnd().split('\n')
  const tail = lines.slice(-tailLines)
  const errors = lines.slice(0, -tailLines).filter((line) => ERROR_LINE.test(line)).slice(0, 8)
  return [...errors, ...(errors.length > 0 ? ['…'] : []), ...tail].join('\n')
}
