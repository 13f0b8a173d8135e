/**
 * admission.k8s.io/v1 AdmissionReview, as much of it as Outpost reads and
 * writes (client-node ships no types for it), and the data the pure
 * validators return. Field names follow k8s.io/api/admission/v1/types.go.
 */
import type { Lookups } from './lookups.ts';

/** The operation being admitted. */
export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/** `request` of an AdmissionReview v1. */
export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: Operation;
  userInfo?: { username?: string; groups?: string[] };
  /** The new object; absent (null) on DELETE. */
  object?: unknown;
  /** The existing object on UPDATE and DELETE. */
  oldObject?: unknown;
  dryRun?: boolean;
}

/** `response` of an AdmissionReview v1. */
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  /** metav1.Status; its message is what kubectl prints after `denied the request:`. */
  status?: { code?: number; reason?: string; message?: string };
  /** base64 of a JSON Patch (RFC 6902) array; mutating webhooks only. */
  patch?: string;
  patchType?: 'JSONPatch';
  /** kubectl prints each as `Warning: <text>`; keep them under 256 characters. */
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

/** admission.k8s.io/v1 AdmissionReview: `request` in, `response` (same uid) out. */
export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

/**
 * One broken rule: a stable rule code (webhooks/README.md), the field path in
 * kubectl's notation, and one sentence that says what is wrong and how to fix it.
 */
export interface Violation {
  code: string;
  field: string;
  message: string;
}

/** What every validator gets: the request's objects and read-only views of other objects. */
export interface ValidateInput<T> {
  operation: Operation;
  /** The new object (CREATE, UPDATE); undefined on DELETE. */
  object?: T;
  /** The stored object (UPDATE, DELETE). */
  oldObject?: T;
  /** Namespace of the request ('' for cluster-scoped objects). */
  namespace: string;
  lookups: Lookups;
}

/** What every validator returns. `message` joins the violations, one per line. */
export interface ValidationResult {
  allowed: boolean;
  message?: string;
  warnings: string[];
  violations: Violation[];
}

/** Renders a violation or warning as `field: message`. */
export const describe = (v: { field: string; message: string }): string => (v.field ? `${v.field}: ${v.message}` : v.message);

/** Builds a result: denied when there is any violation. */
export function verdict(violations: Violation[], warnings: string[] = []): ValidationResult {
  return violations.length === 0
    ? { allowed: true, warnings, violations }
    : { allowed: false, message: violations.map(describe).join('\n'), warnings, violations };
}

/** A decoded JSON object of unknown shape. */
export type JsonObject = Record<string, unknown>;

/** True for a plain JSON object (not null, not an array). */
export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A list of names for a message: `"a", "b" and 3 more`. */
export function nameList(names: readonly string[], max = 5): string {
  const shown = names.slice(0, max).map((n) => `"${n}"`).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}
