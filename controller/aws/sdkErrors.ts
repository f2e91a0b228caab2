/**
 * AWS SDK errors become fleetsync errors at the adapter edge, with the SDK error as `cause`, so the core
 * decides on retry, backoff or failure without knowing the SDK.
 */
import {
  ControlPlaneError, FleetsyncError, NotFoundError, ThrottledError, TransientError,
} from '../errors.ts';

/** The SDK's own throttling list (smithy service-error-classification), kept here so we import no internals. */
const THROTTLING_CODES = new Set([
  'BandwidthLimitExceeded', 'EC2ThrottledException', 'LimitExceededException', 'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException', 'RequestLimitExceeded', 'RequestThrottled',
  'RequestThrottledException', 'SlowDown', 'ThrottledException', 'Throttling', 'ThrottlingException',
  'TooManyRequestsException', 'TransactionInProgressException',
]);

const TRANSIENT_CODES = new Set([
  'TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'InternalError', 'InternalFailure',
  'InternalServerError', 'ServiceUnavailable', 'ServiceUnavailableException',
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
]);

const NOT_FOUND_CODES = new Set([
  'InvocationDoesNotExist', 'InvalidCommandId', 'InvalidInstanceID.NotFound', 'TargetGroupNotFound',
  'TargetGroupNotFoundException', 'NoSuchBucket', 'NoSuchKey', 'NotFound', 'ResourceNotFoundException',
]);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  message?: unknown;
  $fault?: unknown;
  $retryable?: { throttling?: boolean };
  $metadata?: { httpStatusCode?: number };
}

function shape(error: unknown): SdkErrorShape {
  return typeof error === 'object' && error !== null ? (error as SdkErrorShape) : {};
}

/** The service's error code (`ThrottlingException`, `ValidationError`, ...) or a Node network code. */
export function sdkErrorCode(error: unknown): string | undefined {
  const e = shape(error);
  for (const candidate of [e.Code, e.code, e.name]) {
    if (typeof candidate === 'string' && candidate !== '' && candidate !== 'Error') return candidate;
  }
  return undefined;
}

export function sdkErrorMessage(error: unknown): string {
  const message = shape(error).message;
  return typeof message === 'string' ? message : String(error);
}

export function isThrottling(error: unknown): boolean {
  const e = shape(error);
  const code = sdkErrorCode(error);
  return e.$retryable?.throttling === true || e.$metadata?.httpStatusCode === 429
    || (code !== undefined && THROTTLING_CODES.has(code));
}

function isTransient(error: unknown): boolean {
  const e = shape(error);
  const code = sdkErrorCode(error);
  const status = e.$metadata?.httpStatusCode ?? 0;
  return e.$fault === 'server' || status >= 500 || (code !== undefined && TRANSIENT_CODES.has(code));
}

function isAbort(error: unknown): boolean {
  return sdkErrorCode(error) === 'AbortError';
}

/**
 * The fleetsync error for an SDK error thrown by `op`. fleetsync errors and aborts (cancellation, which the
 * caller asked for) pass through unchanged.
 */
export function toFleetsyncError(error: unknown, op: string): Error {
  if (error instanceof FleetsyncError || isAbort(error)) return error as Error;
  const code = sdkErrorCode(error) ?? 'UnknownError';
  const detail = `${op} failed: ${code}: ${sdkErrorMessage(error)}`;
  if (isThrottling(error)) {
    return new ThrottledError(`${detail} (AWS throttled the call even after the SDK's retries; backing off)`,
      { cause: error });
  }
  if (NOT_FOUND_CODES.has(code)) return new NotFoundError(detail, { cause: error });
  if (isTransient(error)) return new TransientError(`${detail} (will retry)`, { cause: error });
  const hint = code.includes('AccessDenied') || code.includes('Unauthorized')
    ? ' (the controller role lacks this permission: see README "Running on AWS" for the IAM actions)'
    : '';
  return new ControlPlaneError(`${detail}${hint}`, { cause: error });
}
