// The image cannot be built here (no Docker engine), so its invariants are checked from the
// Dockerfile's text and the compiled output: Node 24 base, non-root user, production dependencies
// only, and an entrypoint that is the CLI with everything it loads copied into the image.
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { OPERATOR_NODE_FLAGS } from '../src/node-flags.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const read = (p: string) => readFileSync(join(REPO, p), 'utf8');

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  body: Instruction[];
}

/** Dockerfile -> stages of instructions (comments dropped, continuation lines joined). */
function parseDockerfile(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of lines) {
    const m = /^(\w+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`unparsable Dockerfile line: ${line}`);
    const op = m[1]!.toUpperCase();
    const args = m[2]!;
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!f) throw new Error(`unparsable FROM: ${args}`);
      stages.push({ from: f[1]!, ...(f[2] ? { name: f[2] } : {}), body: [] });
    } else {
      if (!stages.length) throw new Error(`${op} before FROM`);
      stages.at(-1)!.body.push({ op, args });
    }
  }
  return stages;
}

const stages = parseDockerfile(read('Dockerfile'));
const runtime = stages.at(-1)!;
const pkg = JSON.parse(read('package.json')) as {
  version: string;
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const CLI_JS = 'dist/operator/src/cli.js';
const ENTRYPOINT = ['node', ...OPERATOR_NODE_FLAGS, CLI_JS, 'operator'];

/** Files reachable from `entry` through relative imports, and the packages they import. */
function importGraph(entry: string): { files: string[]; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const spec =
    /^\s*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(spec)) {
      const s = (m[1] ?? m[2] ?? m[3])!;
      if (s.startsWith('.')) visit(resolve(dirname(file), s));
      else packages.add(s);
    }
  };
  visit(entry);
  return { files: [...files].map((f) => relative(REPO, f)), packages };
}

/** "@scope/name/sub" -> "@scope/name"; "name/sub" -> "name". */
const packageName = (s: string) =>
  s
    .split('/')
    .slice(0, s.startsWith('@') ? 2 : 1)
    .join('/');

describe('Dockerfile', () => {
  test('is a multi-stage build on Node 24 images', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.from).toMatch(/^node:24([.-]|$)/);
    // The build stage compiles; the runtime stage does not.
    const build = stages.find((s) => s.name)!;
    expect(build.body.some((i) => i.op === 'RUN' && /\btsc\b/.test(i.args))).toBe(true);
    expect(runtime.body.some((i) => i.op === 'RUN' && /\btsc\b/.test(i.args))).toBe(false);
  });

  test('the runtime stage installs production dependencies only', () => {
    const installs = runtime.body.filter((i) => i.op === 'RUN' && /\bnpm\s+(install|ci|i)\b/.test(i.args));
    expect(installs.length).toBeGreaterThan(0);
    for (const i of installs) expect(i.args).toMatch(/--omit=dev\b/);
    // It takes only compiled output from the build stage, never the build stage's node_modules.
    const copies = runtime.body.filter((i) => i.op === 'COPY' && i.args.includes('--from='));
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) expect(c.args).not.toMatch(/node_modules/);
    // The pinned toolchain package is a devDependency, so --omit=dev leaves it out.
    expect(pkg.devDependencies.node).toBeDefined();
    expect(pkg.dependencies.node).toBeUndefined();
  });

  test('runs as a non-root numeric user, the one the chart sets', () => {
    const users = runtime.body.filter((i) => i.op === 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!.args;
    expect(user).toMatch(/^\d+(:\d+)?$/); // numeric, so runAsNonRoot can verify it
    expect(user.split(':').map(Number)).not.toContain(0);
    const values = parse(read('charts/capture-drain-operator/values.yaml')) as {
      podSecurityContext: { runAsUser: number; runAsNonRoot: boolean };
    };
    expect(Number(user.split(':')[0])).toBe(values.podSecurityContext.runAsUser);
    expect(values.podSecurityContext.runAsNonRoot).toBe(true);
    // USER comes before the entrypoint and nothing switches back.
    const ops = runtime.body.map((i) => i.op);
    expect(ops.lastIndexOf('USER')).toBeLessThan(ops.indexOf('ENTRYPOINT'));
  });

  test('the entrypoint is the CLI the package builds', () => {
    const entrypoints = runtime.body.filter((i) => i.op === 'ENTRYPOINT');
    expect(entrypoints).toHaveLength(1);
    expect(JSON.parse(entrypoints[0]!.args)).toEqual(ENTRYPOINT);
    expect(pkg.bin['capture-drain']).toBe(CLI_JS);
    // bin/capture-drain runs `operator` from a checkout with the same Node flags.
    expect(read('bin/capture-drain')).toContain(`flags=(${OPERATOR_NODE_FLAGS.join(' ')})`);
    expect(existsSync(join(REPO, CLI_JS))).toBe(true);
  });

  test('everything the CLI loads is copied into the image and needs only production dependencies', () => {
    const { files, packages } = importGraph(join(REPO, CLI_JS));
    // The graph reaches the operator (its lazily loaded commands too) and its packages.
    expect(files).toEqual(
      expect.arrayContaining([
        'dist/operator/src/main.js',
        'dist/operator/src/cli/plan.js',
        'dist/operator/src/gate/handler.js',
      ]),
    );
    expect([...packages]).toEqual(expect.arrayContaining(['undici', 'pino', 'zod']));
    // Importing @kubernetes/client-node costs ~120 MiB of RSS and ~1 s: the CLI and operator never load it.
    expect([...packages].filter((p) => p.startsWith('@kubernetes/'))).toEqual([]);
    const copied = runtime.body
      .filter((i) => i.op === 'COPY' && i.args.includes('--from='))
      .map((i) => {
        const [src, dest] = i.args.split(/\s+/).slice(1);
        return { src: src!.replace(/^\/src\//, ''), dest: dest!.replace(/^\.\//, '') };
      });
    for (const c of copied) expect(c.src).toBe(c.dest); // same layout as in the repository
    const missing = files.filter((f) => !copied.some((c) => f.startsWith(`${c.src}/`)));
    expect(missing).toEqual([]);
    const builtins = new Set(builtinModules);
    const notProduction = [...packages]
      .filter((s) => !s.startsWith('node:') && !builtins.has(s))
      .map(packageName)
      .filter((p) => !(p in pkg.dependencies));
    expect(notProduction).toEqual([]);
  });

  test("the image's import graph excludes the simulator and all e2e code", () => {
    // From every entry point the image runs: the ENTRYPOINT and the package's bin.
    for (const entry of new Set([CLI_JS, ...Object.values(pkg.bin)])) {
      const { files } = importGraph(join(REPO, entry));
      expect(files.length).toBeGreaterThan(10);
      expect(files.filter((f) => !f.startsWith('dist/operator/src/'))).toEqual([]);
    }
    // The check sees imports: the simulator's own entry does reach it.
    expect(importGraph(join(REPO, 'dist/e2e/bin/sim.js')).files).toContain('dist/e2e/ticdc-sim/cli.js');
    // And the runtime stage copies nothing but the operator's compiled sources.
    const copied = runtime.body
      .filter((i) => i.op === 'COPY' && i.args.includes('--from='))
      .map((i) => i.args);
    for (const c of copied) expect(c).not.toMatch(/e2e/);
  });

  test('.dockerignore keeps local state out and what the Dockerfile copies in', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const p of ['node_modules', 'dist', '.git', 'e2e/controlplane']) expect(ignored).toContain(p);
    const fromContext = stages
      .flatMap((s) => s.body)
      .filter((i) => i.op === 'COPY' && !i.args.includes('--from='))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(fromContext).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'operator']));
    for (const src of fromContext) {
      expect(existsSync(join(REPO, src))).toBe(true);
      expect(ignored).not.toContain(src);
    }
  });

  test("the chart's default image tag is the package version", () => {
    const chart = parse(read('charts/capture-drain-operator/Chart.yaml')) as { appVersion: string };
    expect(chart.appVersion).toBe(pkg.version);
  });
});
