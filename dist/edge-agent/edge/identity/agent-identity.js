/**
 * What the edge agent runs for its identity when started from a root
 * directory (`outpost edge --root DIR`): the pid file and the certificate
 * rotator. The agent hands in a callback that swaps the TLS material and
 * reconnects the hub.
 */
                                               
                                               
import { CertificateRotator,                                      } from './rotation.js';
import { removePidFile, writePidFile } from './root.js';

                                
                                          
               
 

/** Starts rotation (unless disabled in config.yaml) and writes DIR/agent.pid. No-op without `config.identity`. */
export function startAgentIdentity(config            , log        , onRotated                                              , opts                                                                             = {})                {
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
