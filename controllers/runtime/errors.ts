import { OutpostError } from '../../lib/errors.ts';

/** Error codes of the controller runtime (controllers/README.md lists them; never reuse a code). */
export type ControllerErrorCode =
  | 'CTRL_CACHE_SYNC_TIMEOUT'
  | 'CTRL_TERMINAL'
  | 'CTRL_LEASE_LOST'
  | 'CTRL_API_REQUEST'
  | 'CTRL_UNKNOWN_KIND'
  | 'CTRL_INVALID_OBJECT'
  | 'CTRL_INVALID_CONFIG';

export class ControllerError extends OutpostError<ControllerErrorCode> {}

/**
 * Thrown by a reconciler for "this will not get better by retrying" (bad spec,
 * unsupported combination). The controller logs and counts it and does not
 * requeue; the reconciler should also surface it in a condition. A later
 * change to the object enqueues it again as usual.
 */
export class TerminalError extends ControllerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CTRL_TERMINAL', message, options);
  }
}

/** An API server response outside 2xx; `statusCode` is the HTTP status, `reason` the Status reason. */
export class KubeApiError extends ControllerError {
  readonly statusCode: number;
  readonly reason: string | undefined;
  constructor(statusCode: number, message: string, reason?: string) {
    super('CTRL_API_REQUEST', message);
    this.statusCode = statusCode;
    this.reason = reason;
  }
}

function statusOf(err: unknown): number | undefined {
  if (err instanceof KubeApiError) return err.statusCode;
  // client-node's ApiException carries the HTTP status as a numeric `code`.
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** True for a 404 from the API server (ours or client-node's ApiException). */
export const isNotFound = (err: unknown): boolean => statusOf(err) === 404;
/** True for a 409 (resourceVersion conflict or AlreadyExists). */
export const isConflict = (err: unknown): boolean => statusOf(err) === 409;
