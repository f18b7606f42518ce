#!/usr/bin/env node
// Thin launcher: the command itself is compiled TypeScript in ../dist (built by `npm ci` via prepare).
import { main } from '../dist/main.js';

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => {
    process.stderr.write(`flotilla: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
