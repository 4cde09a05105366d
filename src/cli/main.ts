#!/usr/bin/env node
/**
 * The `shardtx` command (package.json `bin`). See `shardtx --help` and docs/cli.md.
 *
 * @module
 */
import { runCli } from './run-cli.js'

const exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() })
process.exitCode = exitCode
// Pools are closed by now; a driver socket still lingering must not keep a finished command alive.
setTimeout(() => process.exit(exitCode), 2000).unref()
