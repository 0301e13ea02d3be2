#!/usr/bin/env node
// Builds the libpcap addon at install time — unless a prebuilt binary shipped in the package
// (prebuilds/<platform>-<arch>/, made by scripts/prebuild.js when packing) loads here: then the install needs
// no compiler and no libpcap headers, only the libpcap runtime library. `npm install --build-from-source`
// (or PCAP_PIPE_FORCE_BUILD=1) builds anyway.
//
// A machine without libpcap's headers (or without a compiler)
// must still get a working install: the offline tools (files, pipes, decoders) need no addon, and live
// capture then fails with one clear message (see addon/index.ts). So a failed build warns and exits 0.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
if (!fs.existsSync(path.join(root, 'binding.gyp'))) process.exit(0);

const fromSource = !!process.env.PCAP_PIPE_FORCE_BUILD || /^(true|1|pcap-pipe)$/.test(process.env.npm_config_build_from_source || '');
if (!fromSource) {
  const prebuilt = loadablePrebuild();
  if (prebuilt.ok) {
    console.log(`pcap-pipe: using the prebuilt addon ${path.relative(root, prebuilt.file)}`);
    process.exit(0);
  }
  if (prebuilt.file) console.warn(`pcap-pipe: the prebuilt addon ${path.relative(root, prebuilt.file)} does not load here (${prebuilt.reason}); building from source`);
}

/** The prebuild node-gyp-build would pick for this platform, and whether it loads (libpcap present, ...). */
function loadablePrebuild() {
  let file;
  try {
    // PREBUILDS_ONLY: look at prebuilds/ only (node-gyp-build would otherwise also accept build/Release).
    process.env.PREBUILDS_ONLY = '1';
    file = require('node-gyp-build').path(root);
    const addon = require(file);
    if (typeof addon.devices !== 'function' || typeof addon.BpfProgram !== 'function') return { ok: false, file, reason: 'not the pcap-pipe addon' };
    return { ok: true, file };
  } catch (e) {
    return { ok: false, file, reason: String(e && e.message).split('\n')[0] };
  }
}

const hasHeaders = ['/usr/include/pcap/pcap.h', '/usr/include/pcap.h', '/usr/local/include/pcap/pcap.h', '/opt/homebrew/include/pcap/pcap.h']
  .some((p) => fs.existsSync(p));
if (!hasHeaders && !process.env.PCAP_PIPE_FORCE_BUILD) {
  console.warn('pcap-pipe: libpcap headers not found; live capture is disabled. Install them (Debian/Ubuntu: apt-get install libpcap-dev) and run `npm rebuild pcap-pipe`.');
  process.exit(0);
}
// node-gyp downloads Node's headers unless told where they are. Node installs (distribution packages and
// the official tarballs) ship them under <prefix>/include/node for exactly this Node version, so use them:
// the build then works offline and cannot pick headers of another version.
const args = ['rebuild'];
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
// npm puts its bundled node-gyp on PATH for lifecycle scripts; fall back to npm's own copy, then npx.
let r = spawnSync('node-gyp', args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
if (r.error) {
  const bundled = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  r = fs.existsSync(bundled)
    ? spawnSync(process.execPath, [bundled, ...args], { cwd: root, stdio: 'inherit' })
    : spawnSync('npx', ['--yes', 'node-gyp', ...args], { cwd: root, stdio: 'inherit' });
}
if (r.status !== 0) {
  console.warn('pcap-pipe: building the libpcap addon failed; offline tools still work, live capture is disabled. Needs libpcap-dev, python3, make and a C++ compiler.');
}
process.exit(0);
