/**
 * DynamoDB errors as fleetsync errors. Beyond the general SDK mapping: a store that cannot be reached, or a table
 * that does not exist, is StoreUnavailableError (the controller waits and retries; the CLI says what to do).
 * Conditional-check failures are not handled here: each write knows whether a lost condition is a conflict,
 * a stale token or a lease held by someone else.
 */
import { StoreUnavailableError } from '../errors.ts';
import { sdkErrorCode, sdkErrorMessage, toFleetsyncError } from './sdkErrors.ts';

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'TimeoutError', 'RequestTimeout',
]);

export function isConditionFailed(error: unknown): boolean {
  return sdkErrorCode(error) === 'ConditionalCheckFailedException';
}

export function toStoreError(error: unknown, op: string, tableName: string): Error {
  const code = sdkErrorCode(error);
  if (code !== undefined && UNREACHABLE_CODES.has(code)) {
    return new StoreUnavailableError(
      `${op} failed: DynamoDB cannot be reached (${code}: ${sdkErrorMessage(error)}); check AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB and the network`,
      { cause: error });
  }
  if (code === 'ResourceNotFoundException') {
    return new StoreUnavailableError(
      `${op} failed: table ${tableName} does not exist: create it with fleetsync init (or set --table / FLEETSYNC_TABLE to the right table)`,
      { cause: error });
  }
  return toFleetsyncError(error, op);
}
