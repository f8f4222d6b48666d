#!/usr/bin/env bash
# Installs chopsticks (@acala-network/chopsticks, pinned in tests/chopsticks/package-lock.json)
# for the tests that run the real subtensor runtimes (tests/data/runtimes/) on loopback, then
# patches it. Idempotent: a second run re-checks the patches and changes nothing.
#
# Needs node (20 works, although chopsticks asks for 22) and npm; `npm ci` builds sqlite3's
# native module (chopsticks' block database, used for resume) with node-gyp when no prebuilt
# binary can be downloaded, which needs python3, make and a C++ compiler.
#
# Patches (each fails loudly if its target text is not found, e.g. after a version bump):
#
# 1. chopsticks-core dist/{cjs,esm}/wasm-executor/index.js, getAuraSlotDuration: it runs
#    `AuraApi_slot_duration` with `allowUnresolvedImports: false` hard-coded, ignoring the
#    --allow-unresolved-imports option. The spec 293 runtime imports host functions the
#    executor does not provide, so the call fails and no block can be built. Set to true.
#
# 2. chopsticks-core dist/{cjs,esm}/rpc/rpc-spec/chainHead_v1.js: chopsticks 1.5.1 sends the
#    runtime in `chainHead_v1_follow` events (`initialized.finalizedBlockRuntime`,
#    `newBlock.newRuntime`) as a bare RuntimeVersion; the JSON-RPC spec (and subxt) expect
#    `{"type":"valid","spec":{...}}`, and subxt ends the follow subscription at once without it.
#    The patch wraps it, unless the environment variable POW_CHOPSTICKS_RAW_CHAINHEAD=1 is set
#    when chopsticks starts: then the original, non-conforming event is kept, so tests can also
#    run against a node where only the legacy RPC family (chain_subscribeNewHeads,
#    author_submitAndWatchExtrinsic) works for subxt.
set -euo pipefail
cd "$(dirname "$0")/../tests/chopsticks"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-chopsticks: node and npm are needed (e.g. apt-get install nodejs npm)" >&2
  exit 1
fi

major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "install-chopsticks: WARNING: node $(node --version); chopsticks 1.5.1 asks for node 22, node 20 is known to work" >&2
fi

core=node_modules/@acala-network/chopsticks-core/dist
if [ ! -x node_modules/.bin/chopsticks ] || [ ! -d "$core" ] \
  || ! node -e "process.exit(require('./node_modules/@acala-network/chopsticks/package.json').version === require('./package-lock.json').packages['node_modules/@acala-network/chopsticks'].version ? 0 : 1)"; then
  npm ci --no-audit --no-fund
fi

# chopsticks keeps its blocks (and so resume) in sqlite3, a native module built by an install
# script; newer npm versions may skip install scripts, so check and build it if needed.
if ! node -e "require('sqlite3')" >/dev/null 2>&1; then
  npm rebuild sqlite3 --foreground-scripts
  node -e "require('sqlite3')" || { echo "install-chopsticks: sqlite3 does not load" >&2; exit 1; }
fi

node - "$core" <<'JS'
const fs = require('fs');
const path = require('path');
const core = process.argv[2];
const MARK = '/* pow-host patch */';

function patch(file, edits, append) {
  const p = path.join(core, file);
  let src = fs.readFileSync(p, 'utf8');
  if (src.includes(MARK)) {
    console.log(`install-chopsticks: ${p} already patched`);
    return;
  }
  for (const [re, to] of edits) {
    const n = (src.match(new RegExp(re.source, 'g')) || []).length;
    if (n !== 1) {
      console.error(`install-chopsticks: patch target ${re} found ${n} times in ${p} (want exactly 1)`);
      process.exit(1);
    }
    src = src.replace(re, to);
  }
  if (append) src += `\n${append}\n`;
  fs.writeFileSync(p, src);
  console.log(`install-chopsticks: patched ${p}`);
}

for (const flavour of ['cjs', 'esm']) {
  // 1. Aura's slot duration with unresolved imports allowed (spec 293 needs it).
  patch(`${flavour}/wasm-executor/index.js`, [
    [/(getAuraSlotDuration = [^]*?)allowUnresolvedImports: false/,
      `$1allowUnresolvedImports: true ${MARK}`],
  ]);
  // 2. chainHead_v1_follow runtime events wrapped as the spec says (unless
  //    POW_CHOPSTICKS_RAW_CHAINHEAD=1).
  patch(`${flavour}/rpc/rpc-spec/chainHead_v1.js`, [
    [/return hasNewRuntime \? runtime : null;/,
      'return hasNewRuntime ? __powWrapRuntime(runtime) : null;'],
    [/finalizedBlockRuntime: withRuntime \? await context\.chain\.head\.runtimeVersion : null/,
      'finalizedBlockRuntime: withRuntime ? __powWrapRuntime(await context.chain.head.runtimeVersion) : null'],
  ], `${MARK}\nfunction __powWrapRuntime(runtime) {\n    return process.env.POW_CHOPSTICKS_RAW_CHAINHEAD === '1' ? runtime : { type: 'valid', spec: runtime };\n}`);
}
JS

node_modules/.bin/chopsticks --version >/dev/null 2>&1 || true
echo "install-chopsticks: ready ($(pwd)/node_modules/.bin/chopsticks)"
