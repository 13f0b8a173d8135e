import { OutpostError } from '../../lib/errors.ts';

/** Stable codes of cloud/kubelet (listed in cloud/README.md). */
export const KUBELET_ERROR_CODES = ['KUBELET_INVALID_CONFIG', 'KUBELET_PORTS_EXHAUSTED'] as const;
export type KubeletErrorCode = (typeof KUBELET_ERROR_CODES)[number];

export class KubeletError extends OutpostError<KubeletErrorCode> {
  override readonly name = 'KubeletError';
}
