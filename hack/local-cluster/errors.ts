import { OutpostError } from '../../lib/errors.ts';

/** Error codes of the local control plane harness (hack/README.md lists them). */
export type ClusterErrorCode =
  | 'CLUSTER_OPENSSL_MISSING'
  | 'CLUSTER_PKI_FAILED'
  | 'CLUSTER_BUILD_FAILED'
  | 'CLUSTER_START_TIMEOUT'
  | 'CLUSTER_PROCESS_EXITED'
  | 'CLUSTER_NOT_RUNNING';

export class ClusterError extends OutpostError<ClusterErrorCode> {}
