// Error codes of edge/pods (listed with what to do in README.md).
import { OutpostError } from '../../lib/errors.ts';

export type PodErrorCode =
  /** A referenced ConfigMap/Secret/key is missing, or a fieldRef is not supported: the container waits (CreateContainerConfigError). */
  | 'POD_CONFIG_INVALID'
  /** The runtime could not create or start the container (RunContainerError / CreateContainerError). */
  | 'POD_START_FAILED'
  /** The image is not present and could not be pulled (ErrImagePull). */
  | 'POD_IMAGE_PULL_FAILED'
  /** A volume could not be prepared (hostPath type mismatch, unsupported volume type, I/O). */
  | 'POD_VOLUME_FAILED'
  /** The container (or its sandbox) is not known to the runtime. */
  | 'POD_CONTAINER_NOT_FOUND'
  /** The runtime does not support the request (e.g. a TTY in the process runtime). */
  | 'POD_UNSUPPORTED'
  /** The container runtime (containerd) is unreachable or answered with an error. */
  | 'POD_RUNTIME_UNAVAILABLE';

export class PodError extends OutpostError<PodErrorCode> {
  /** The kubelet's waiting reason this maps to in containerStatuses (e.g. CreateContainerConfigError). */
  readonly reason: string;
  constructor(code: PodErrorCode, message: string, opts: { reason?: string; cause?: unknown } = {}) {
    super(code, message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.reason = opts.reason ?? defaultReason[code];
  }
}

const defaultReason: Record<PodErrorCode, string> = {
  POD_CONFIG_INVALID: 'CreateContainerConfigError',
  POD_START_FAILED: 'RunContainerError',
  POD_IMAGE_PULL_FAILED: 'ErrImagePull',
  POD_VOLUME_FAILED: 'CreateContainerConfigError',
  POD_CONTAINER_NOT_FOUND: 'ContainerStatusUnknown',
  POD_UNSUPPORTED: 'CreateContainerError',
  POD_RUNTIME_UNAVAILABLE: 'RunContainerError',
};
