#!/usr/bin/env node
// The `zoom-token-vault` executable: runs cli/main.ts through tsx (a dependency of the project),
// so the CLI needs no build step.

require('tsx/cjs/api').register();
const { runCli } = require('./main.ts');

runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() }).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(error);
    process.exitCode = 1;
  },
);
