import { OutpostError } from '../../lib/errors.ts';

/** Error codes of the EdgeApplication controller (listed in README.md; never reuse a code). */
export type EdgeApplicationErrorCode =
  | 'EDGEAPP_INVALID_IMAGE'
  | 'EDGEAPP_INVALID_OVERRIDER'
  | 'EDGEAPP_INVALID_TARGET'
  | 'EDGEAPP_INVALID_MANIFEST'
  | 'EDGEAPP_UNKNOWN_KIND'
  | 'EDGEAPP_APPLY_FAILED';

/**
 * A problem with one part of an EdgeApplication's spec. `field` is the path
 * of the offending field relative to what the thrower was given (a target, an
 * overrider list); the plan prefixes it to a full `spec.…` path. The plan
 * never lets these escape: it turns them into a Degraded condition and skips
 * only the affected target or manifest.
 */
export class SpecError extends OutpostError<EdgeApplicationErrorCode> {
  readonly field: string;
  constructor(code: EdgeApplicationErrorCode, field: string, message: string) {
    super(code, message);
    this.field = field;
  }

  /** The same error with `prefix` put in front of its field path. */
  under(prefix: string): SpecError {
    const field = !this.field ? prefix : this.field.startsWith('[') ? `${prefix}${this.field}` : `${prefix}.${this.field}`;
    return new SpecError(this.code, field, this.message);
  }
}
