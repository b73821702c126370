#!/usr/bin/env node
// The `zoom-token-vault` executable. Installed from the package it runs the compiled CLI
// (dist/cli, built by `npm pack`); in a checkout of the repository, where cli/main.ts sits
// beside this file, it runs the sources through tsx (a dev dependency), so no build is needed.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

function loadCli() {
  const source = join(__dirname, 'main.ts');
  if (!existsSync(source)) return require('../dist/cli/main.js');
  require('tsx/cjs/api').register();
  return require(source);
}

loadCli()
  .runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() })
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
