import { describe, expect, it } from 'vitest';
import { InvocationDoesNotExist } from '@aws-sdk/client-ssm';
import { sdkErrorCode, toFleetsyncError } from '../../controller/aws/sdkErrors.ts';
import { CallTally, callAws } from '../../controller/aws/callCounter.ts';
import {
  ConflictError, ControlPlaneError, NotFoundError, ThrottledError, TransientError,
} from '../../controller/errors.ts';
import { sdkError } from './awsMocks.ts';

describe('toFleetsyncError', () => {
  it.each([
    ['ThrottlingException', 400, ThrottledError],
    ['Throttling', 400, ThrottledError],
    ['RequestLimitExceeded', 400, ThrottledError],
    ['SlowDown', 503, ThrottledError],
    ['TooManyRequests', 429, ThrottledError],
    ['InternalServerError', 500, TransientError],
    ['ServiceUnavailable', 503, TransientError],
    ['InvalidInstanceID.NotFound', 400, NotFoundError],
    ['AccessDeniedException', 400, ControlPlaneError],
    ['ValidationError', 400, ControlPlaneError],
  ])('%s (HTTP %i) becomes %O', (code, status, errorClass) => {
    const cause = sdkError(code, 'something happened', status);
    const error = toFleetsyncError(cause, 'DescribeInstances');
    expect(error).toBeInstanceOf(errorClass);
    expect(error.cause).toBe(cause);
    expect(error.message).toContain(`DescribeInstances failed: ${code}: something happened`);
  });

  it('reads the code of modeled SDK exceptions and of network errors', () => {
    expect(sdkErrorCode(new InvocationDoesNotExist({ message: '', $metadata: {} }))).toBe('InvocationDoesNotExist');
    expect(toFleetsyncError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }), 'SendCommand'))
      .toBeInstanceOf(TransientError);
  });

  it('points a permission error at the IAM actions', () => {
    expect(toFleetsyncError(sdkError('AccessDeniedException', 'not authorized to perform ssm:SendCommand'), 'SendCommand').message)
      .toMatch(/IAM actions/);
  });

  it('passes fleetsync errors and aborts through unchanged', () => {
    const own = new ConflictError('lost a race');
    expect(toFleetsyncError(own, 'X')).toBe(own);
    const abort = Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });
    expect(toFleetsyncError(abort, 'X')).toBe(abort);
  });
});

describe('callAws', () => {
  it('counts each call by operation, throttles apart from other errors', async () => {
    const tally = new CallTally();
    await callAws('DescribeInstances', tally.onCall, () => Promise.resolve(1));
    await expect(callAws('DescribeInstances', tally.onCall, () => Promise.reject(sdkError('RequestLimitExceeded', 'slow down'))))
      .rejects.toBeInstanceOf(ThrottledError);
    await expect(callAws('DescribeInstances', tally.onCall, () => Promise.reject(sdkError('UnauthorizedOperation', 'no'))))
      .rejects.toBeInstanceOf(ControlPlaneError);
    expect(tally.snapshot()).toEqual({ DescribeInstances: { ok: 1, throttled: 1, error: 1 } });
    expect(tally.total()).toBe(3);
  });
});
