#!/usr/bin/env node
// Summarises V8 .cpuprofile files (node --cpu-prof; run.mjs --cpu-prof-dir): the functions with the
// most self time and the most inclusive time, and self time by file and by package, as shares of
// the busy (non-idle) time; with --match, also the inclusive time of the functions whose file
// contains that text (e.g. server/dist: where the server's own code spends it).
// --from <s> skips the first seconds of each profile (the server's start-up).
// Usage: node bench/profile-summary.mjs <dir or files...> [--top 25] [--match server/dist] [--from 3]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
let top = 25;
let match;
let fromSeconds = 0;
const inputs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--top') top = Number(args[++i]);
  else if (args[i] === '--match') match = args[++i];
  else if (args[i] === '--from') fromSeconds = Number(args[++i]);
  else inputs.push(args[i]);
}
if (!inputs.length) {
  console.error('Usage: node bench/profile-summary.mjs <dir or .cpuprofile files...> [--top 25] [--match server/dist] [--from 3]');
  process.exit(64);
}
const files = inputs.flatMap((p) =>
  statSync(p).isDirectory()
    ? readdirSync(p)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(p, f))
    : [p],
);

/** Where a function lives, shortened: node_modules/<package>/..., <workspace>/dist/..., or node:<module>. */
function where(url) {
  if (!url) return '';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm !== -1) return path.slice(nm + 1);
  const ws = /\/(server|sdk|test|openapi)\/(dist|src|bench)\//.exec(path);
  return ws ? path.slice(ws.index + 1) : path;
}
const pkgOf = (file) => {
  if (file.startsWith('node_modules/')) {
    const parts = file.split('/');
    return parts[1].startsWith('@') ? `${parts[1]}/${parts[2]}` : parts[1];
  }
  if (file.startsWith('node:') || !file.includes('/')) return file ? `node:${file.replace(/^node:/, '').split('/')[0]}` : '(native/VM)';
  return file.split('/').slice(0, 2).join('/');
};

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);
const self = new Map();
const inclusive = new Map();
const byFile = new Map();
const byPackage = new Map();
let busy = 0;
const special = new Map();
const add = (m, k, v) => m.set(k, (m.get(k) ?? 0) + v);

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const nodeSelf = new Map();
  // Samples from --from seconds on (skips the start-up: loading modules, compiling the spec's validators).
  let at = 0;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (at >= fromSeconds * 1e6) add(nodeSelf, id, profile.timeDeltas[i] ?? 0);
  });
  const keyOf = (n) => {
    const f = n.callFrame;
    return `${f.functionName || '(anonymous)'}  ${where(f.url)}:${f.lineNumber + 1}`;
  };
  // Depth-first: a node's subtree time goes to its function's inclusive time unless the function is already on the stack.
  const active = new Map();
  const visit = (n) => {
    const key = keyOf(n);
    const name = n.callFrame.functionName;
    const own = nodeSelf.get(n.id) ?? 0;
    if (SPECIAL.has(name)) {
      if (name !== '(root)') add(special, name, own);
    } else {
      add(self, key, own);
      const file = where(n.callFrame.url) || '(native/VM)';
      add(byFile, file, own);
      add(byPackage, pkgOf(file), own);
    }
    const first = !active.get(key);
    active.set(key, (active.get(key) ?? 0) + 1);
    let total = own;
    for (const c of n.children ?? []) total += visit(nodes.get(c));
    active.set(key, active.get(key) - 1);
    if (first && !SPECIAL.has(name)) add(inclusive, key, total);
    return total;
  };
  visit(profile.nodes[0]);
}
for (const [k, v] of special) if (k !== '(idle)') busy += v;
for (const v of self.values()) busy += v;

const pct = (v) => `${((v / busy) * 100).toFixed(1).padStart(5)} %`;
const show = (title, m, n = top) => {
  console.log(`\n${title}`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`  ${pct(v)}  ${k}`);
};
const idle = special.get('(idle)') ?? 0;
console.log(`${files.length} profile(s); busy ${(busy / 1e6).toFixed(1)} s, idle ${(idle / 1e6).toFixed(1)} s; shares below are of the busy time`);
for (const k of ['(garbage collector)', '(program)']) console.log(`  ${pct(special.get(k) ?? 0)}  ${k}`);
show('Self time by package / top folder', byPackage, 15);
show('Self time by file', byFile, 20);
show('Top functions by self time', self);
show('Top functions by inclusive time', inclusive);
if (match) show(`Inclusive time of functions in files matching "${match}"`, new Map([...inclusive].filter(([k]) => k.includes(match))));
