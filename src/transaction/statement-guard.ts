import { traitsOf, type SqlLexRules } from '../../adapters/index.js'
import type { Dialect } from '../config/shard-config.js'

/**
 * Finds a statement in `sql` that would take transaction control away from
 * shardtx (BEGIN, COMMIT, ROLLBACK, END, ABORT, START TRANSACTION, PREPARE
 * TRANSACTION, XA …, SET autocommit / SET TRANSACTION, and on MySQL LOCK/UNLOCK
 * TABLES, which commit implicitly). Returns its first words, or undefined.
 *
 * Savepoints stay allowed: `SAVEPOINT`, `ROLLBACK TO …`, `RELEASE …` act inside
 * the branch. Text in quotes, dollar quotes and comments is skipped, but MySQL's
 * executable comments (`/*! … *\/`) are read as code, since the server runs them.
 *
 * ```ts
 * findTransactionControl('select 1; commit', 'postgres') // 'commit'
 * findTransactionControl("insert into t values ('commit')", 'postgres') // undefined
 * ```
 */
export function findTransactionControl(sql: string, dialect: Dialect): string | undefined {
  const rules = traitsOf(dialect).sql
  let start = 0
  for (;;) {
    const end = statementEnd(sql, start, rules)
    const words = leadingWords(sql, start, end, rules)
    if (words !== undefined && controlsTransaction(words, rules)) return words.join(' ')
    if (end >= sql.length) return undefined
    start = end + 1
  }
}

function controlsTransaction(words: string[], rules: SqlLexRules): boolean {
  const [first, second, third] = words
  switch (first) {
    case 'begin':
    case 'commit':
    case 'end':
    case 'abort':
    case 'xa':
      return true
    case 'start':
      return second === 'transaction'
    case 'rollback':
      // ROLLBACK [WORK|TRANSACTION] TO [SAVEPOINT] x stays inside the branch.
      return !(second === 'to' || ((second === 'work' || second === 'transaction') && third === 'to'))
    case 'prepare':
      return second === 'transaction'
    case 'set':
      return setsTransactionMode(words.slice(1))
    case 'lock':
    case 'unlock':
      return rules.lockTablesCommits
    default:
      return false
  }
}

const SET_SCOPES = new Set(['session', 'local', 'global', 'persist'])

function setsTransactionMode(words: string[]): boolean {
  let i = 0
  while (i < words.length && SET_SCOPES.has(words[i]!)) i++
  const name = words[i]
  return name === 'autocommit' || name === 'transaction' || name === 'characteristics' || name === 'completion_type'
}

/** Index of the `;` that ends the statement starting at `from`, or sql.length. */
function statementEnd(sql: string, from: number, rules: SqlLexRules): number {
  const n = sql.length
  let i = from
  while (i < n) {
    const c = sql.charCodeAt(i)
    if (c === 59 /* ; */) return i
    if (c === 39 /* ' */ || c === 34 /* " */ || c === 96 /* ` */) {
      i = skipQuoted(sql, i, c, rules)
    } else if (c === 45 /* - */ && sql.charCodeAt(i + 1) === 45) {
      i = skipLine(sql, i)
    } else if (c === 35 /* # */ && rules.hashComments) {
      i = skipLine(sql, i)
    } else if (c === 47 /* / */ && sql.charCodeAt(i + 1) === 42 /* * */) {
      i = executableComment(sql, i, rules) ? i + 3 : skipBlockComment(sql, i)
    } else if (c === 36 /* $ */ && rules.dollarQuotes) {
      i = skipDollarQuoted(sql, i)
    } else {
      i++
    }
  }
  return n
}

function skipQuoted(sql: string, i: number, quote: number, rules: SqlLexRules): number {
  const n = sql.length
  i++
  while (i < n) {
    const c = sql.charCodeAt(i)
    // MySQL string literals take backslash escapes; PostgreSQL standard strings do not.
    if (c === 92 /* \ */ && rules.backslashEscapes && quote !== 96) {
      i += 2
      continue
    }
    if (c === quote) {
      if (sql.charCodeAt(i + 1) === quote) {
        i += 2
        continue
      }
      return i + 1
    }
    i++
  }
  return n
}

function skipLine(sql: string, i: number): number {
  const nl = sql.indexOf('\n', i)
  return nl === -1 ? sql.length : nl + 1
}

function skipBlockComment(sql: string, i: number): number {
  const close = sql.indexOf('*/', i + 2)
  return close === -1 ? sql.length : close + 2
}

function executableComment(sql: string, i: number, rules: SqlLexRules): boolean {
  if (!rules.executableComments) return false
  const c = sql.charCodeAt(i + 2)
  return c === 33 /* ! */ || (c === 77 /* M */ && sql.charCodeAt(i + 3) === 33)
}

function skipDollarQuoted(sql: string, i: number): number {
  const tagEnd = sql.indexOf('$', i + 1)
  if (tagEnd === -1) return i + 1
  const tag = sql.slice(i, tagEnd + 1)
  // $1, $2 … are parameters, not quotes.
  if (!/^\$([A-Za-z_][A-Za-z_0-9]*)?\$$/.test(tag)) return i + 1
  const close = sql.indexOf(tag, tagEnd + 1)
  return close === -1 ? sql.length : close + tag.length
}

/** The first three lower-cased words of a statement, after spaces, comments and parentheses. */
function leadingWords(sql: string, from: number, to: number, rules: SqlLexRules): string[] | undefined {
  const words: string[] = []
  let i = from
  while (i < to && words.length < 3) {
    const c = sql.charCodeAt(i)
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 40 /* ( */) {
      i++
    } else if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      i = skipLine(sql, i)
    } else if (c === 35 && rules.hashComments) {
      i = skipLine(sql, i)
    } else if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      if (executableComment(sql, i, rules)) {
        i += sql.charCodeAt(i + 2) === 77 ? 4 : 3
        while (i < to && isDigit(sql.charCodeAt(i))) i++
      } else {
        i = skipBlockComment(sql, i)
      }
    } else if (c === 64 /* @ */ && rules.sigilVariables) {
      // `SET @@session.autocommit`: read the variable name past its sigils and scope.
      i++
    } else if (isWordChar(c)) {
      const begin = i
      while (i < to && isWordChar(sql.charCodeAt(i))) i++
      const word = sql.slice(begin, i).toLowerCase()
      for (const part of word.split('.')) if (part !== '') words.push(part)
    } else {
      break
    }
  }
  return words.length === 0 ? undefined : words
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}

function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || isDigit(c) || c === 95 || c === 46 /* . */
}
