/**
 * The two sample revisions the embedded default seeds into `$FLEETSYNC_HOME/artifacts/`: a tiny web app whose
 * second revision exercises what a sync must get right. From v1 to v2:
 *   - index.html and app.js change (new sizes);
 *   - config/settings.json changes content but keeps its size, so a sync that compares sizes and times only
 *     would keep the stale file;
 *   - lib/legacy.js is removed, lib/feature.js is added.
 */
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

export type SampleRevision = 'v1' | 'v2';

export const SAMPLE_REVISIONS: readonly SampleRevision[] = ['v1', 'v2'];

const page = (revision: string, note: string): string => `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>fleetsync demo ${revision}</title>
    <link rel="stylesheet" href="/media/site.css">
  </head>
  <body>
    <h1>fleetsync demo, revision ${revision}</h1>
    <p>${note}</p>
    <script src="app.js"></script>
  </body>
</html>
`;

export const SAMPLE_FILES: Record<SampleRevision, Record<string, string>> = {
  v1: {
    'index.html': page('v1', 'The first revision.'),
    'app.js': `import { greet } from './lib/util.js';\nimport { legacyBanner } from './lib/legacy.js';\n\ndocument.title = greet('v1');\nlegacyBanner();\n`,
    // same size in v1 and v2 (see the header)
    'config/settings.json': '{ "revision": "v1", "theme": "green", "cacheSeconds": 60 }\n',
    'lib/util.js': `export function greet(revision) {\n  return \`fleetsync demo \${revision}\`;\n}\n`,
    'lib/legacy.js': `export function legacyBanner() {\n  document.body.insertAdjacentHTML('afterbegin', '<p>legacy banner</p>');\n}\n`,
  },
  v2: {
    'index.html': page('v2', 'The second revision: a new feature, a retired banner and a new theme.'),
    'app.js': `import { greet } from './lib/util.js';\nimport { feature } from './lib/feature.js';\n\ndocument.title = greet('v2');\nfeature();\n`,
    'config/settings.json': '{ "revision": "v2", "theme": "olive", "cacheSeconds": 60 }\n',
    'lib/util.js': `export function greet(revision) {\n  return \`fleetsync demo \${revision}\`;\n}\n`,
    'lib/feature.js': `export function feature() {\n  document.body.insertAdjacentHTML('beforeend', '<p>new in v2</p>');\n}\n`,
  },
};

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Writes `<artifactsDir>/<revision>/` for each sample revision that is not there yet. A revision is written
 * into a temporary folder and renamed into place, so a half-written revision is never mistaken for a whole one.
 * Returns the revisions it wrote.
 */
export async function seedSampleRevisions(artifactsDir: string): Promise<SampleRevision[]> {
  await mkdir(artifactsDir, { recursive: true });
  const written: SampleRevision[] = [];
  for (const revision of SAMPLE_REVISIONS) {
    const final = path.join(artifactsDir, revision);
    if (await exists(final)) continue;
    const temp = path.join(artifactsDir, `.${revision}.seeding`);
    await rm(temp, { recursive: true, force: true });
    for (const [name, content] of Object.entries(SAMPLE_FILES[revision])) {
      const file = path.join(temp, name);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, content);
    }
    await rename(temp, final);
    written.push(revision);
  }
  return written;
}
