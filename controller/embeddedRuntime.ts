/** The embedded default as a Runtime: dynalite, the local fleet and local artifacts in $FLEETSYNC_HOME. */
import type { Runtime, RuntimeOptions } from './runtime.ts';
import { FleetsyncError } from './errors.ts';

export function openEmbeddedRuntime(_options: RuntimeOptions): Promise<Runtime> {
  // The local fleet and the embedded store are being built (issue 4); until then say so rather than pretend.
  return Promise.reject(new FleetsyncError('the embedded default is not wired yet: set FLEETSYNC_TABLE to run against DynamoDB'));
}
