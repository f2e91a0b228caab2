/**
 * `npm run synth` as an operator runs it: a child process, no AWS account, no CDK CLI. The template must come
 * out clean (no warning, no deprecation, no bootstrap requirement), and bad context must fail with exit 2.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CURRENTLY_RECOMMENDED_FLAGS } from 'aws-cdk-lib/cx-api';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONTEXT = [
  '-c', 'imageUri=123456789012.dkr.ecr.eu-west-1.amazonaws.com/fleetsync:0.1.0',
  '-c', 'vpcId=vpc-0123456789abcdef0',
  '-c', 'subnetIds=subnet-0123456789abcdef0,subnet-0fedcba9876543210',
  '-c', 'autoScalingGroupNames=web-prod-asg',
  '--context', 'targetGroupArns=arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef',
];

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

/** npm run synth into a fresh folder (CDK_OUTDIR, as the CDK CLI passes it), so parallel runs cannot collide. */
function synth(args: string[]): { result: SpawnSyncReturns<string>; outdir: string } {
  const outdir = mkdtempSync(join(tmpdir(), 'fleetsync-synth-'));
  outdirs.push(outdir);
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('CDK_') && !key.startsWith('JSII_')));
  const result = spawnSync('npm', ['run', 'synth', '--', ...args], {
    cwd: ROOT,
    env: { ...env, CDK_OUTDIR: outdir },
    encoding: 'utf8',
    timeout: 150_000,
  });
  return { result, outdir };
}

/** stderr without npm's own notices (about npm's config or updates), which say nothing about the template. */
const synthStderr = (stderr: string): string[] =>
  stderr.split(/\r?\n/).filter((line) => line.trim() !== '' && !/^npm (warn|notice)\b/i.test(line));

describe('npm run synth', () => {
  it('writes the template offline, says where, and prints no warning', () => {
    const { result, outdir } = synth(CONTEXT);
    expect(result.error).toBeUndefined();
    expect(synthStderr(result.stderr)).toEqual([]);
    expect(result.status).toBe(0);

    const said = /Wrote the CloudFormation template to (\S+)/.exec(result.stdout)?.[1];
    expect(said, `stdout: ${result.stdout}`).toBeDefined();
    const templatePath = resolve(ROOT, said as string);
    expect(templatePath).toBe(join(outdir, 'Fleetsync.template.json'));
    const template = JSON.parse(readFileSync(templatePath, 'utf8')) as { Resources: Record<string, { Type: string }>; Parameters?: object; Rules?: object };
    const types = Object.values(template.Resources).map((r) => r.Type);
    for (const type of ['AWS::DynamoDB::Table', 'AWS::ECS::Service', 'AWS::SSM::Document', 'AWS::AutoScaling::LifecycleHook', 'AWS::CloudWatch::Alarm']) {
      expect(types).toContain(type);
    }
    // No bootstrap check: `aws cloudformation deploy` can take the file as is.
    expect(template.Parameters).toBeUndefined();
    expect(template.Rules).toBeUndefined();

    // The compact copy README's Deploying section deploys: the same template, small enough to send inline (no S3 bucket).
    const compactPath = join(outdir, 'Fleetsync.compact.json');
    expect(result.stdout).toContain(`to ${join(relative(ROOT, outdir), 'Fleetsync.compact.json')} (`);
    const compact = readFileSync(compactPath, 'utf8');
    expect(JSON.parse(compact)).toEqual(template);
    expect(Buffer.byteLength(compact), 'over CloudFormation\'s inline limit: the documented deploy command needs --s3-bucket now')
      .toBeLessThanOrEqual(51_200);

    const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8')) as {
      artifacts: Record<string, { metadata?: Record<string, Array<{ type: string; data: unknown }>> }>;
      missing?: unknown[];
    };
    expect(manifest.missing, 'context lookups need an AWS account').toBeUndefined();
    const flagged = Object.values(manifest.artifacts).flatMap((a) => Object.values(a.metadata ?? {}).flat())
      .filter((entry) => entry.type === 'aws:cdk:warning' || entry.type === 'aws:cdk:error');
    expect(flagged).toEqual([]);
  }, 180_000);

  it('fails with exit 2, naming every missing value, when required context is missing', () => {
    const { result, outdir } = synth(['-c', 'vpcId=vpc-0123456789abcdef0']);
    expect(result.status).toBe(2);
    for (const key of ['imageUri', 'subnetIds', 'autoScalingGroupNames']) expect(result.stderr).toContain(`${key} is missing`);
    expect(result.stderr).not.toContain('vpcId is missing');
    expect(readdirSync(outdir)).toEqual([]);
  }, 180_000);

  it('refuses a context key it does not know, instead of ignoring a typo', () => {
    const { result, outdir } = synth([...CONTEXT, '-c', 'subnetId=subnet-0123456789abcdef0']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('unknown context key "subnetId"');
    expect(existsSync(join(outdir, 'Fleetsync.template.json'))).toBe(false);
  }, 180_000);
});

describe('deploy/infra/cdk.json', () => {
  it('sets every feature flag the installed aws-cdk-lib recommends, to the recommended value', () => {
    const { context } = JSON.parse(readFileSync(join(ROOT, 'deploy/infra/cdk.json'), 'utf8')) as { context: Record<string, unknown> };
    const wrong = Object.entries(CURRENTLY_RECOMMENDED_FLAGS).filter(([flag, value]) => JSON.stringify(context[flag]) !== JSON.stringify(value));
    expect(wrong, 'after upgrading aws-cdk-lib, copy the new flags into cdk.json and review the template diff').toEqual([]);
  });
});
