import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { buildEdgeConfig, EdgeConfigError } from '../../edge/config.ts';
import { startEdge } from '../../edge/agent.ts';

/** `outpost edge`: runs the edge agent until SIGINT/SIGTERM. */
export const edge: Command = {
  name: 'edge',
  summary: 'run the edge agent: local store synced with the cloud hub, offline-first',
  usage: 'outpost edge --node-name NAME --hub HOST:PORT --data-dir DIR --ca-file F --cert-file F --key-file F [--hub-protocol auto|quic|websocket]',
  options: {
    'node-name': { type: 'string' },
    hub: { type: 'string' },
    'quic-port': { type: 'string' },
    'hub-protocol': { type: 'string' },
    'server-name': { type: 'string' },
    'data-dir': { type: 'string' },
    'ca-file': { type: 'string' },
    'cert-file': { type: 'string' },
    'key-file': { type: 'string' },
  },
  optionHelp: {
    'node-name': 'this node\'s name (must match the certificate CN system:node:<name>)',
    hub: 'cloud hub address host:port (WebSocket over TCP; QUIC over UDP on the same port unless --quic-port)',
    'quic-port': 'UDP port of the hub\'s QUIC listener',
    'hub-protocol': 'auto (QUIC, falling back to WebSocket), quic or websocket (default auto)',
    'server-name': 'name to verify in the hub certificate (default: the host of --hub)',
    'data-dir': 'directory for the local store (edge.db)',
    'ca-file': 'CA certificate that signed the hub\'s certificate',
    'cert-file': 'this node\'s client certificate',
    'key-file': 'this node\'s private key',
  },
  async run(v) {
    let cfg;
    try {
      cfg = buildEdgeConfig({
        nodeName: v['node-name'] as string | undefined, hub: v.hub as string | undefined, quicPort: v['quic-port'] as string | undefined,
        hubProtocol: v['hub-protocol'] as string | undefined, serverName: v['server-name'] as string | undefined, dataDir: v['data-dir'] as string | undefined,
        caFile: v['ca-file'] as string | undefined, certFile: v['cert-file'] as string | undefined, keyFile: v['key-file'] as string | undefined,
      });
    } catch (err) {
      if (err instanceof EdgeConfigError) throw new CliError('CLI_USAGE', err.message);
      throw err;
    }
    const agent = await startEdge(cfg);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await agent.stop();
    return 0;
  },
};
