#!/usr/bin/env node
// The program starts in dist/cli/start.js: with its compiled code cached between runs.
import { start } from '../dist/cli/start.js';

process.exitCode = await start(process.argv.slice(2));
