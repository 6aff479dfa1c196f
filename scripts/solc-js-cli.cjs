#!/usr/bin/env node
// A native-solc command line over solc-js, for tools that run a `solc` binary (Forge,
// Slither through crytic-compile): `--version` and `--standard-json` (input on stdin, any
// `--base-path`, `--include-path` or `--allow-paths` honoured for imports). The compiler is
// the project's pinned npm `solc`, so every tool compiles with the exact same solc-js
// that builds the shipped artefacts (src/zkpot/ledger/build.py).
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require(path.join(__dirname, '..', 'node_modules', 'solc'));

const args = process.argv.slice(2);
if (args.includes('--version')) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}
if (!args.includes('--standard-json')) {
  process.stderr.write(`solc-js-cli: only --version and --standard-json are supported, got: ${args.join(' ')}\n`);
  process.exit(2);
}
const roots = [];
for (let i = 0; i < args.length; ++i) {
  if (args[i] === '--base-path' || args[i] === '--include-path') roots.push(args[i + 1]);
  if (args[i] === '--allow-paths') roots.push(...args[i + 1].split(','));
}
roots.push(process.cwd());
function findImports(name) {
  for (const root of [''].concat(roots)) {
    const file = root ? path.resolve(root, name) : name;
    if (path.isAbsolute(file) && fs.existsSync(file)) {
      return { contents: fs.readFileSync(file, 'utf8') };
    }
  }
  return { error: `File not found: ${name}` };
}
const input = fs.readFileSync(0, 'utf8');
process.stdout.write(solc.compile(input, { import: findImports }));
