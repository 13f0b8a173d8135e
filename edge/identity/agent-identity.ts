/**
 * What the edge agent runs for its identity when started from a root
 * directory (`outpost edge --root DIR`): the pid file and the certificate
 * rotator. The agent hands in a callback that swaps the TLS material and
 * reconnects the hub.
 */
import type { Logger } from '../../lib/log.ts';
import type { EdgeConfig } from '../config.ts';
import { CertificateRotator, type Credentials, type RotationEvent } from './rotation.ts';
import { removePidFile, writePidFile } from './root.ts';

export interface AgentIdentity {
  rotator: CertificateRotator | undefined;
  stop(): void;
}

/** Starts rotation (unless disabled in config.yaml) and writes DIR/agent.pid. No-op without `config.identity`. */
export function startAgentIdentity(config: EdgeConfig, log: Logger, onRotated: (c: Credentials, how: RotationEvent) => void, opts: { rotator?: Partial<ConstructorParameters<typeof CertificateRotator>[0]> } = {}): AgentIdentity {
  const id = config.identity;
  if (!id) return { rotator: undefined, stop: () => undefined };
  writePidFile(id.root);
  const rotator = id.rotate ? new CertificateRotator({
    root: id.root, nodeName: config.nodeName, endpoint: id.bootstrap, initial: { ...config.tls }, onRotated, log: log.child({ component: 'certificates' }), ...opts.rotator,
  }) : undefined;
  rotator?.start();
  if (rotator) log.info('Scheduled node certificate renewal', { at: rotator.deadline.toISOString() });
  return {
    rotator,
    stop() {
      rotator?.stop();
      removePidFile(id.root);
    },
  };
}
