/**
 * The SSM command document the controller sends, read from deploy/ssm/ at synth time so the stack ships the
 * same file the tests check. Checked against the controller's parameter list: a document missing a parameter
 * would make every SendCommand fail, which is better found now than on the first deploy.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../../controller/errors.ts';
import { PARAMETER_FLAGS } from '../../../controller/hostProtocol.ts';

export const SSM_DOCUMENT_PATH = fileURLToPath(new URL('../../ssm/fleetsync-sync.json', import.meta.url));

export interface SsmDocumentContent {
  schemaVersion: string;
  parameters: Record<string, { type: string; default?: unknown }>;
  mainSteps: Array<{ action: string; name: string }>;
  [key: string]: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Throws ConfigError saying what is wrong with the file and how to get a good one. */
export function loadSsmDocument(path: string = SSM_DOCUMENT_PATH): SsmDocumentContent {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(
      `the SSM command document ${path} cannot be read (${(cause as Error).message}); ` +
      'it is part of the repository (deploy/ssm/): restore it with git, then synth again', { cause });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`the SSM command document ${path} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  const problems: string[] = [];
  if (!isRecord(doc)) {
    problems.push('it must be a JSON object');
  } else {
    if (doc.schemaVersion !== '2.2') problems.push(`schemaVersion must be "2.2", got ${JSON.stringify(doc.schemaVersion)}`);
    const steps = Array.isArray(doc.mainSteps) ? doc.mainSteps : [];
    if (!steps.some((step) => isRecord(step) && step.action === 'aws:runShellScript')) {
      problems.push('mainSteps must hold an aws:runShellScript step');
    }
    const parameters = isRecord(doc.parameters) ? doc.parameters : {};
    const sent = PARAMETER_FLAGS.map(([name]) => name as string);
    for (const name of sent) {
      if (!isRecord(parameters[name])) problems.push(`parameter ${name} is missing (the controller sends it with every command)`);
    }
    for (const [name, spec] of Object.entries(parameters)) {
      if (!sent.includes(name) && !(isRecord(spec) && 'default' in spec)) {
        problems.push(`parameter ${name} has no default, but the controller never sends it`);
      }
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(`the SSM command document ${path} does not fit the controller: ${problems.join('; ')}`);
  }
  return doc as SsmDocumentContent;
}
