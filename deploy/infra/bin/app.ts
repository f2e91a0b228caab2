/**
 * `npm run synth -- -c key=value ...`: writes the fleetsync stack's CloudFormation template to deploy/infra/cdk.out
 * offline (no AWS account, no CDK CLI). The CDK CLI can run it too (deploy/infra/cdk.json), which passes its own
 * output folder and context.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, DefaultStackSynthesizer } from 'aws-cdk-lib';
import { ConfigError } from '../../../controller/errors.ts';
import { CONTEXT_KEYS, readConfig } from '../lib/config.ts';
import { FleetsyncStack } from '../lib/fleetsyncStack.ts';
import { loadSsmDocument } from '../lib/ssmDocument.ts';

const INFRA_DIR = fileURLToPath(new URL('..', import.meta.url));
const PACKAGE_JSON = fileURLToPath(new URL('../../../package.json', import.meta.url));
const STACK_NAME = 'Fleetsync';

const USAGE = `usage: npm run synth -- -c imageUri=IMAGE -c vpcId=VPC -c subnetIds=SUBNET[,SUBNET] -c autoScalingGroupNames=ASG[,ASG] [-c key=value ...]
context keys:
${Object.entries(CONTEXT_KEYS).map(([key, meaning]) => `  ${key}: ${meaning}`).join('\n')}`;

/** `-c key=value`, `--context key=value` or `--context=key=value`; unknown keys are refused (a typo would be ignored). */
function parseArgs(argv: string[]): Record<string, string> {
  const context: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    let pair: string | undefined;
    if (arg === '-c' || arg === '--context') pair = argv[++i];
    else if (arg.startsWith('--context=')) pair = arg.slice('--context='.length);
    else throw new ConfigError(`unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
    const eq = pair?.indexOf('=') ?? -1;
    if (pair === undefined || eq <= 0) throw new ConfigError(`${arg} needs key=value, got ${JSON.stringify(pair ?? '')}\n${USAGE}`);
    const key = pair.slice(0, eq);
    if (!(key in CONTEXT_KEYS)) throw new ConfigError(`unknown context key ${JSON.stringify(key)}\n${USAGE}`);
    context[key] = pair.slice(eq + 1);
  }
  return context;
}

/** The feature flags, frozen in cdk.json as `cdk init` would, so a CDK upgrade cannot change the template silently. */
function featureFlags(): Record<string, unknown> {
  return (JSON.parse(readFileSync(`${INFRA_DIR}/cdk.json`, 'utf8')) as { context: Record<string, unknown> }).context;
}

/** The container runs exactly what `npm start` runs. */
function controllerCommand(): string[] {
  const start = (JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { scripts?: { start?: string } }).scripts?.start;
  if (!start) throw new ConfigError(`${PACKAGE_JSON} has no scripts.start: the container needs it as its command`);
  return start.trim().split(/\s+/);
}

/** CloudFormation's limit for a template passed in the request rather than from S3. */
const INLINE_TEMPLATE_MAX_BYTES = 51_200;

/**
 * The same template without indentation: the SSM document carries the whole host script, which pushes the
 * indented file past the inline limit while the compact one stays under it, so a deploy needs no S3 bucket.
 */
function writeCompactTemplate(templatePath: string): { path: string; bytes: number } {
  const path = templatePath.replace(/\.template\.json$/, '.compact.json');
  const text = JSON.stringify(JSON.parse(readFileSync(templatePath, 'utf8')));
  writeFileSync(path, text);
  return { path, bytes: Buffer.byteLength(text) };
}

function main(argv: string[]): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  const app = new App({
    outdir: process.env.CDK_OUTDIR ?? `${INFRA_DIR}/cdk.out`,
    context: featureFlags(),
    postCliContext: parseArgs(argv),
    // Only an app that finished building may write: a bad context must leave no half-written output behind.
    autoSynth: false,
  });
  const config = readConfig((key) => app.node.tryGetContext(key));
  const stack = new FleetsyncStack(app, STACK_NAME, {
    description: 'fleetsync: keeps the codebase of Auto Scaling group instances at the desired revision',
    // No bootstrap rule: the stack has no assets, so `aws cloudformation deploy` can take the template as is.
    synthesizer: new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
    config,
    ssmDocument: loadSsmDocument(),
    controllerCommand: controllerCommand(),
  });
  const assembly = app.synth();
  const artifact = assembly.getStackArtifact(stack.artifactId);
  // With annotationsInValidationReport on (cdk.json), synth has printed its report already.
  const reported = app.node.tryGetContext('@aws-cdk/core:annotationsInValidationReport') === true;
  let errors = 0;
  for (const message of artifact.messages) {
    if (message.level === 'info') continue;
    if (message.level === 'error') errors++;
    if (!reported) console.error(`[${message.level}] ${message.id}: ${String(message.entry.data)}`);
  }
  if (errors > 0) return 1;
  console.log(`Wrote the CloudFormation template to ${relative(process.cwd(), artifact.templateFullPath)}`);
  const compact = writeCompactTemplate(artifact.templateFullPath);
  console.log(`and its compact copy, for aws cloudformation deploy, to ${relative(process.cwd(), compact.path)} (${compact.bytes} bytes)`);
  if (compact.bytes > INLINE_TEMPLATE_MAX_BYTES) {
    console.log(`That is over CloudFormation's ${INLINE_TEMPLATE_MAX_BYTES}-byte limit for a template sent inline: add --s3-bucket BUCKET to aws cloudformation deploy.`);
  }
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exitCode = 2;
}
