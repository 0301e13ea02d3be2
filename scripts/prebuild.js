#!/usr/bin/env node
// Builds the N-API prebuild that `npm pack` / `npm publish` put into the tarball (the `prepack` script):
// prebuilds/<platform>-<arch>/pcap-pipe.glibc.node (or .musl), found at run time by node-gyp-build, so an
// install on a matching machine needs no compiler — only the libpcap runtime library.
//
// One build serves every Node version: the addon uses Node-API only (NAPI_VERSION in binding.gyp), which is
// ABI-stable. Binaries are never committed; prebuilds/ is ignored by git.
//
// prebuildify runs `node-gyp rebuild` in its working directory, which would wipe this checkout's build/
// (the addon the tests load). So it runs on a copy of the addon sources in .prebuild-stage/, a folder of
// the package root: node_modules resolves from there as from the root (binding.gyp asks node-addon-api
// for its include directory).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const stage = path.join(root, '.prebuild-stage');

function fail(message) {
  console.error(`pcap-pipe prebuild: ${message}`);
  process.exit(1);
}

/** npm's lifecycle PATH carries its bundled node-gyp; outside npm, use npm's own copy next to node. */
function nodeGypCommand() {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const candidate = path.join(dir, 'node-gyp');
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  const bundled = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (fs.existsSync(bundled)) return bundled;
  fail('node-gyp not found (run this through `npm pack`, which provides npm\'s bundled node-gyp)');
}

fs.rmSync(stage, { recursive: true, force: true });
fs.mkdirSync(path.join(stage, 'addon'), { recursive: true });
for (const file of ['binding.gyp', 'package.json']) fs.copyFileSync(path.join(root, file), path.join(stage, file));
for (const file of fs.readdirSync(path.join(root, 'addon'))) {
  if (/\.(cc|h)$/.test(file)) fs.copyFileSync(path.join(root, 'addon', file), path.join(stage, 'addon', file));
}

// node-gyp downloads Node's headers unless told where they are; Node installs ship them under
// <prefix>/include/node (the same reasoning as scripts/build-addon.js).
const env = { ...process.env, PREBUILD_NODE_GYP: nodeGypCommand() };
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix;

const prebuildify = require.resolve('prebuildify/bin.js', { paths: [root] });
const r = spawnSync(process.execPath, [prebuildify, '--napi', '--strip', '--tag-libc', `--target=node@${process.versions.node}`, `--cwd=${stage}`, `--out=${root}`], { stdio: 'inherit', env });
fs.rmSync(stage, { recursive: true, force: true });
if (r.status !== 0) fail(`prebuildify failed (status ${r.status}); packing needs libpcap-dev, python3, make and a C++ compiler`);

// Refuse to pack a binary that does not load here.
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
if (!fs.existsSync(dir) || fs.readdirSync(dir).length === 0) fail(`no prebuild was written to ${dir}`);
for (const file of fs.readdirSync(dir)) {
  const addon = require(path.join(dir, file));
  if (typeof addon.devices !== 'function' || typeof addon.BpfProgram !== 'function') fail(`${file} is not the pcap-pipe addon`);
  console.log(`pcap-pipe prebuild: ${path.relative(root, path.join(dir, file))} (${fs.statSync(path.join(dir, file)).size} bytes)`);
}
