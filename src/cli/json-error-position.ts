/**
 * Where a text stops being JSON, as 1-based line and column. `JSON.parse`'s own
 * messages quote the text around the mistake (and that text may hold a password),
 * and only some of them give a position; this scanner finds the position itself,
 * the same way on every Node version, so the CLI can report the place and nothing else.
 * Call it only for a text `JSON.parse` refused.
 */
export function jsonErrorPosition(text: string): { line: number; column: number } {
  const offset = firstErrorOffset(text)
  const before = text.slice(0, offset)
  const line = before.split('\n').length
  return { line, column: offset - (before.lastIndexOf('\n') + 1) + 1 }
}

/** Thrown inside the scanner with the offset of the offending character. */
class Stop {
  constructor(readonly offset: number) {}
}

const LITERALS = ['true', 'false', 'null']
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
const STRING_CHUNK = /[^"\\\u0000-\u001f]*/y
const ESCAPE = /\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/y

function firstErrorOffset(text: string): number {
  let at = 0
  const skipSpace = (): void => {
    while (at < text.length && ' \t\n\r'.includes(text[at]!)) at++
  }
  const expect = (char: string): void => {
    if (text[at] !== char) throw new Stop(at)
    at++
  }
  const match = (pattern: RegExp): boolean => {
    pattern.lastIndex = at
    if (!pattern.test(text)) return false
    at = pattern.lastIndex
    return true
  }
  const string = (): void => {
    expect('"')
    for (;;) {
      match(STRING_CHUNK)
      if (text[at] === '"') return void at++
      if (text[at] !== '\\' || !match(ESCAPE)) throw new Stop(at)
    }
  }
  const value = (): void => {
    skipSpace()
    const char = text[at]
    if (char === '{') return members('}', () => {
      skipSpace()
      string()
      skipSpace()
      expect(':')
      value()
    })
    if (char === '[') return members(']', value)
    if (char === '"') return string()
    const literal = LITERALS.find((word) => text.startsWith(word, at))
    if (literal !== undefined) return void (at += literal.length)
    if (!match(NUMBER)) throw new Stop(at)
  }
  const members = (close: string, member: () => void): void => {
    at++
    skipSpace()
    if (text[at] === close) return void at++
    for (;;) {
      member()
      skipSpace()
      if (text[at] === close) return void at++
      expect(',')
    }
  }
  try {
    value()
    skipSpace()
    // Text after a complete value, or (at the end) a value cut short: the end of the file.
    return at
  } catch (stop) {
    if (stop instanceof Stop) return stop.offset
    throw stop
  }
}
