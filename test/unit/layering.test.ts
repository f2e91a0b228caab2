/**
 * The design's dependency rules, checked on every import (static, type-only, re-export and dynamic) of the
 * source tree, read with TypeScript's own import scanner so strings and comments are not mistaken for imports.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ADAPTERS = ['controller/aws', 'controller/sim', 'controller/local'];

interface Import {
  /** repo-relative path of the importing file */
  file: string;
  specifier: string;
  /** repo-relative target of a relative import; null for a package */
  target: string | null;
}

function tsFiles(dir: string): string[] {
  const abs = path.join(ROOT, dir);
  if (!statSync(abs, { throwIfNoEntry: false })?.isDirectory()) return [];
  return readdirSync(abs, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => path.posix.join(dir, f.split(path.sep).join('/')));
}

function importsOf(file: string, text = readFileSync(path.join(ROOT, file), 'utf8')): Import[] {
  return ts.preProcessFile(text, true, true).importedFiles.map(({ fileName: specifier }) => ({
    file,
    specifier,
    target: specifier.startsWith('.') ? path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier)) : null,
  }));
}

const under = (target: string | null, folder: string): boolean => target !== null && (target === folder || target.startsWith(`${folder}/`));
const adapterOf = (target: string | null): string | undefined => ADAPTERS.find((a) => under(target, a));
const isSdk = (specifier: string): boolean => /^(@aws-sdk\/|@smithy\/|aws-sdk$|aws-cdk-lib|dynalite$|s3rver$)/.test(specifier);
const show = (i: Import): string => `${i.file} imports '${i.specifier}'`;

/** Each rule returns the imports that break it. */
const rules = {
  state: (i: Import): boolean => !(i.specifier === 'xstate' || under(i.target, 'state')),
  ports: (i: Import): boolean => adapterOf(i.target) !== undefined || isSdk(i.specifier)
    || (i.target === null && !i.specifier.startsWith('node:')),
  adapter: (i: Import): boolean => {
    const own = adapterOf(i.file);
    const other = adapterOf(i.target);
    return other !== undefined && other !== own;
  },
  core: (i: Import): boolean => adapterOf(i.target) !== undefined || isSdk(i.specifier),
};

function violations(files: string[], rule: (i: Import) => boolean): string[] {
  return files.flatMap((f) => importsOf(f)).filter(rule).map(show);
}

describe('the import checker itself', () => {
  it('sees static, type-only, re-exported and dynamic imports, and resolves relative ones', () => {
    const text = [
      "import { a } from 'xstate';",
      "import type { B } from '../controller/aws/x.ts';",
      "export { c } from './c.ts';",
      "const d = await import('../controller/sim/d.ts');",
      '// import { e } from "../controller/local/e.ts";',
      "const f = `import { g } from '../controller/local/g.ts'`;",
    ].join('\n');
    const found = importsOf('state/probe.ts', text);
    expect(found.map((i) => i.target ?? i.specifier)).toEqual(['xstate', 'controller/aws/x.ts', 'state/c.ts', 'controller/sim/d.ts']);
    expect(found.filter(rules.state).map((i) => i.specifier)).toEqual(['../controller/aws/x.ts', '../controller/sim/d.ts']);
  });

  it('flags one adapter importing another, but not itself', () => {
    const found = importsOf('controller/sim/x.ts', "import { A } from '../aws/a.ts';\nimport { B } from './b.ts';\nimport { C } from '../ports/c.ts';");
    expect(found.filter(rules.adapter).map((i) => i.specifier)).toEqual(['../aws/a.ts']);
  });
});

describe('dependency rules of the design', () => {
  it('state/ imports only xstate and state/', () => {
    const files = tsFiles('state');
    expect(files).toContain('state/hostMachine.ts');
    expect(violations(files, rules.state)).toEqual([]);
  });

  it('controller/ports/ imports no adapter and no SDK (only state/, other ports and node: builtins)', () => {
    const files = tsFiles('controller/ports');
    expect(files).toContain('controller/ports/fleet.ts');
    expect(violations(files, rules.ports)).toEqual([]);
  });

  it('controller/aws, controller/sim and controller/local never import each other', () => {
    const files = ADAPTERS.flatMap(tsFiles);
    expect(files.some((f) => f.startsWith('controller/aws/'))).toBe(true);
    expect(files.some((f) => f.startsWith('controller/sim/'))).toBe(true);
    expect(files.some((f) => f.startsWith('controller/local/'))).toBe(true);
    expect(violations(files, rules.adapter)).toEqual([]);
  });

  it('the reconciler, the work queue, the leader and the manager import no adapter folder and no SDK', () => {
    const files = [
      ...tsFiles('controller/reconciler'), ...tsFiles('controller/workqueue'), 'controller/leader.ts', 'controller/manager.ts',
    ];
    expect(files).toContain('controller/reconciler/fleetReconciler.ts');
    expect(files).toContain('controller/workqueue/workQueue.ts');
    expect(violations(files, rules.core)).toEqual([]);
  });
});
