#!/usr/bin/env node
// Plain JS entry (the Contract): runs the TypeScript CLI through tsx so a fresh clone needs only `npm install`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../controller/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
