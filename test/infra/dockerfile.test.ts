/**
 * deploy/Dockerfile, checked without a Docker engine: what it copies exists and is in the build context, the
 * image runs what `npm start` runs as a non-root user, and every file and package the CLI loads at run time
 * gets into the image.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCKERFILE = join(ROOT, 'deploy/Dockerfile');
const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
};

interface Instruction { keyword: string; args: string }

/** Joins continuation lines, drops comments and the parser directive, splits KEYWORD and the rest. */
function parseDockerfile(text: string): Instruction[] {
  const logical = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  return logical
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: (keyword as string).toUpperCase(), args: rest.join(' ') };
    });
}

/** The instructions of the last stage: what the running image is made of. */
function finalStage(instructions: Instruction[]): Instruction[] {
  const lastFrom = instructions.map((i) => i.keyword).lastIndexOf('FROM');
  return instructions.slice(lastFrom);
}

function copySources(instruction: Instruction): { from?: string; sources: string[]; dest: string } {
  const words = instruction.args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1) as string };
}

/** .dockerignore patterns as regular expressions (Go filepath.Match plus **), with ! exceptions. */
function dockerIgnore(): Array<{ negate: boolean; regex: RegExp }> {
  const path = join(ROOT, '.dockerignore');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((line) => {
    const negate = line.startsWith('!');
    const pattern = normalize(negate ? line.slice(1) : line).replace(/^\/+/, '');
    const regex = pattern.split('/').map((part) => (part === '**' ? '(?:.*)' : part
      .replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))).join('/')
      .replace(/\(\?:\.\*\)\//g, '(?:.*/)?');
    return { negate, regex: new RegExp(`^${regex}$`) };
  });
}

/** Docker's rule: the last pattern matching the path or a folder above it decides; `!` patterns keep. */
function isIgnored(path: string, rules = dockerIgnore()): boolean {
  const parts = normalize(path).split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const rule of rules) if (prefixes.some((prefix) => rule.regex.test(prefix))) ignored = !rule.negate;
  return ignored;
}

const SPECIFIER = /(?:^|[\s;])(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;
/** require('x') and createRequire(...)('x') */
const REQUIRE = /(?:\brequire|\))\(\s*['"]([^'"]+)['"]\s*\)/g;
/** Files read at run time next to the code: new URL('../x', import.meta.url) */
const DATA_FILE = /new URL\(\s*['"](\.[^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g;

/**
 * Local files and packages reachable from the entries through static and literal dynamic imports and requires,
 * plus the data files the code finds through import.meta.url.
 */
function runtimeImports(entries: string[]): { files: Set<string>; packages: Set<string>; missing: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const missing: string[] = [];
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (files.has(file)) continue;
    files.add(file);
    // Drops comment lines only: stripping /* ... */ spans would also eat code after a string like 'media/*'.
    const source = readFileSync(file, 'utf8').replace(/^\s*(\/\/|\/\*|\*).*$/gm, '');
    for (const match of source.matchAll(DATA_FILE)) {
      const target = join(dirname(file), match[1] as string);
      if (existsSync(target)) files.add(target);
      else missing.push(`${relative(ROOT, file)} reads ${match[1] as string}`);
    }
    const specifiers = [
      ...[...source.matchAll(SPECIFIER)].filter((m) => !m[2]).map((m) => (m[3] ?? m[4]) as string), // `import type`: erased
      ...[...source.matchAll(REQUIRE)].map((m) => m[1] as string),
    ];
    for (const specifier of specifiers) {
      if (specifier.startsWith('.')) {
        const target = join(dirname(file), specifier);
        if (existsSync(target) && statSync(target).isFile()) queue.push(target);
        else missing.push(`${relative(ROOT, file)} imports ${specifier}`);
      } else if (!specifier.startsWith('node:') && !builtinModules.includes(specifier)) {
        const parts = specifier.split('/');
        packages.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string));
      }
    }
  }
  return { files, packages, missing };
}

describe('deploy/Dockerfile', () => {
  const instructions = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
  const final = finalStage(instructions);
  const contextCopies = final.filter((i) => i.keyword === 'COPY').map(copySources).filter((c) => c.from === undefined);

  it('is multi-stage on a slim Node 20 base', () => {
    const bases = instructions.filter((i) => i.keyword === 'FROM').map((i) => i.args.split(/\s+/)[0] as string);
    expect(bases.length).toBeGreaterThanOrEqual(2);
    for (const base of bases) expect(base).toMatch(/^node:20(\.[0-9]+){0,2}-([a-z]+-)?slim(@sha256:[a-f0-9]{64})?$/);
  });

  it('installs production dependencies only, from the lockfile', () => {
    const runs = instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /\bnpm ci\b[^&;]*--omit=dev/.test(r))).toBe(true);
    expect(runs.some((r) => /\bnpm (install|i)\b/.test(r))).toBe(false);
  });

  it('copies only files that exist and that .dockerignore keeps in the build context', () => {
    const sources = instructions.filter((i) => i.keyword === 'COPY').map(copySources)
      .filter((c) => c.from === undefined).flatMap((c) => c.sources);
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), `${source} is copied but does not exist`).toBe(true);
      expect(isIgnored(source), `${source} is copied but .dockerignore leaves it out of the build context`).toBe(false);
    }
  });

  it('gets every file the CLI loads at run time into the image, and needs no dev dependency', () => {
    const copied = contextCopies.flatMap((c) => c.sources).map((s) => normalize(s).replace(/\/$/, ''));
    // Single source files copied on their own (like the metric names) must not pull in anything left behind.
    const copiedModules = copied.filter((s) => /\.(ts|js)$/.test(s)).map((s) => join(ROOT, s));
    const { files, packages, missing } = runtimeImports([join(ROOT, 'bin/fleetsync.js'), ...copiedModules]);
    expect(missing).toEqual([]);
    for (const file of files) {
      const path = relative(ROOT, file);
      const inImage = copied.some((source) => path === source || path.startsWith(`${source}/`));
      expect(inImage, `${path} is loaded by the CLI but no COPY puts it in the image`).toBe(true);
      expect(isIgnored(path), `${path} is loaded by the CLI but .dockerignore leaves it out`).toBe(false);
    }
    for (const name of packages) {
      expect(packageJson.dependencies, `${name} is loaded at run time: it must be in "dependencies", which npm ci --omit=dev installs`)
        .toHaveProperty([name]);
    }
  });

  it('runs as a non-root user', () => {
    const users = final.filter((i) => i.keyword === 'USER').map((i) => i.args.split(':')[0]);
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0']).not.toContain(users.at(-1));
  });

  it('runs what `npm start` runs', () => {
    const cmd = final.filter((i) => i.keyword === 'CMD').at(-1);
    expect(cmd, 'the final stage needs a CMD').toBeDefined();
    expect(final.some((i) => i.keyword === 'ENTRYPOINT'), 'an ENTRYPOINT would change what CMD runs').toBe(false);
    expect(JSON.parse((cmd as Instruction).args)).toEqual(packageJson.scripts.start?.trim().split(/\s+/));
  });

  it('checks its health on /healthz without curl', () => {
    const check = final.filter((i) => i.keyword === 'HEALTHCHECK').at(-1);
    expect(check, 'the final stage needs a HEALTHCHECK').toBeDefined();
    const args = (check as Instruction).args;
    expect(args).toMatch(/\bCMD\s+\[/);
    expect(args).toContain('/healthz');
    expect(args).not.toMatch(/\b(curl|wget)\b/);
  });
});

describe('the Dockerfile checks themselves', () => {
  it('see a path under an ignored folder as ignored, and an exception as kept', () => {
    const rules = [{ negate: false, regex: /^test$/ }, { negate: false, regex: /^docs$/ }, { negate: true, regex: /^docs\/keep\.md$/ }];
    expect(isIgnored('test/infra/a.ts', rules)).toBe(true);
    expect(isIgnored('docs/keep.md', rules)).toBe(false);
    expect(isIgnored('controller/x.ts', rules)).toBe(false);
  });

  it('find requires and files read through import.meta.url', () => {
    const text = "const d = createRequire(import.meta.url)('dynalite'); const x = require('pino'); new URL('../../deploy/host/x.sh', import.meta.url)";
    expect([...text.matchAll(REQUIRE)].map((m) => m[1])).toEqual(['dynalite', 'pino']);
    expect([...text.matchAll(DATA_FILE)].map((m) => m[1])).toEqual(['../../deploy/host/x.sh']);
  });

  it('follow dynamic and re-export imports and skip type-only ones', () => {
    const found = [...'import x from "./a.ts"; export { y } from \'./b.ts\'; import type { Z } from "./c.ts"; await import(\'./d.ts\');'
      .matchAll(SPECIFIER)].filter((m) => !m[2]).map((m) => m[3] ?? m[4]);
    expect(found).toEqual(['./a.ts', './b.ts', './d.ts']);
  });
});
