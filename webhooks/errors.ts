/**
 * Typed errors of webhooks/ (codes listed in webhooks/README.md). Denials of
 * an admission request are not errors: they are `Violation`s with their own
 * rule codes (admission.ts).
 */
import { OutpostError } from '../lib/errors.ts';

/** Stable error codes (webhooks/README.md). */
export type WebhookErrorCode =
  | 'WEBHOOK_BAD_REQUEST'
  | 'WEBHOOK_UNSUPPORTED_MEDIA_TYPE'
  | 'WEBHOOK_BODY_TOO_LARGE'
  | 'WEBHOOK_NOT_FOUND'
  | 'WEBHOOK_METHOD_NOT_ALLOWED'
  | 'WEBHOOK_TIMEOUT'
  | 'WEBHOOK_HANDLER_FAILED'
  | 'WEBHOOK_REGISTRATION_FAILED'
  | 'WEBHOOK_INVALID_CONFIG';

/** The only error webhooks/ throws. */
export class WebhookError extends OutpostError<WebhookErrorCode> {}
