import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two files at a time on the 2-core machines: most suites wait on child processes (the host agent, the aws
    // CLI, Chromium), so one worker left a core idle and the suite took over 10 minutes; with two it is ~6.
    maxWorkers: 2,
    // s3rver signs its ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node 18+) keeps in its
    // legacy provider: without it every listing of more than one page answers 500 (jamhall/s3rver#814).
    execArgv: ['--openssl-legacy-provider'],
    // The machines run Node 20 (the Contract's engines): the SDK's "Node 22 soon" warning would bury test output.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
