                                             
import { CliError } from '../errors.js';
import { buildEdgeConfig, EdgeConfigError,                      } from '../../edge/config.js';
import { startEdge } from '../../edge/agent.js';

/**
 * Runs the agent until SIGINT/SIGTERM (also used by `outpost join`). With a
 * root directory, SIGHUP makes it check its certificate now (adopting one a
 * `join --force-reenroll` wrote, or renewing when due).
 */
export async function runEdgeAgent(input                 )                  {
  let cfg;
  try {
    cfg = buildEdgeConfig(input);
  } catch (err) {
    if (err instanceof EdgeConfigError) throw new CliError('CLI_USAGE', err.message);
    throw err;
  }
  const agent = await startEdge(cfg);
  const hup = () => void agent.identity.rotator?.check();
  process.on('SIGHUP', hup);
  await new Promise      ((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.off('SIGHUP', hup);
  await agent.stop();
  return 0;
}

/** `outpost edge`: runs the edge agent until SIGINT/SIGTERM. */
export const edge          = {
  name: 'edge',
  summary: 'run the edge agent: local store synced with the cloud hub, offline-first',
  usage: 'outpost edge --root DIR | --node-name NAME --hub HOST:PORT --data-dir DIR --ca-file F --cert-file F --key-file F [--hub-protocol auto|quic|websocket] [--runtime process|cri] [--cri-endpoint unix:///run/containerd/containerd.sock] [--node-ip IP] [--devices auto|on|off] [--mqtt embedded|URL] [--mqtt-port N] [--mappers on|off]',
  options: {
    root: { type: 'string' },
    'node-name': { type: 'string' },
    hub: { type: 'string' },
    'quic-port': { type: 'string' },
    'hub-protocol': { type: 'string' },
    'server-name': { type: 'string' },
    'data-dir': { type: 'string' },
    'ca-file': { type: 'string' },
    'cert-file': { type: 'string' },
    'key-file': { type: 'string' },
    runtime: { type: 'string' },
    'cri-endpoint': { type: 'string' },
    'node-ip': { type: 'string' },
    devices: { type: 'string' },
    mqtt: { type: 'string' },
    'mqtt-host': { type: 'string' },
    'mqtt-port': { type: 'string' },
    mappers: { type: 'string' },
  },
  optionHelp: {
    root: 'run from the directory "outpost join" wrote (config.yaml, pki/, data/); renews the certificate before it expires',
    'node-name': 'this node\'s name (must match the certificate CN system:node:<name>)',
    hub: 'cloud hub address host:port (WebSocket over TCP; QUIC over UDP on the same port unless --quic-port)',
    'quic-port': 'UDP port of the hub\'s QUIC listener',
    'hub-protocol': 'auto (QUIC, falling back to WebSocket), quic or websocket (default auto)',
    'server-name': 'name to verify in the hub certificate (default: the host of --hub)',
    'data-dir': 'directory for the local store (edge.db)',
    'ca-file': 'CA certificate that signed the hub\'s certificate',
    'cert-file': 'this node\'s client certificate',
    'key-file': 'this node\'s private key',
    runtime: 'how pods run: process (containers as host processes, default) or cri (containerd over CRI gRPC, host network)',
    'cri-endpoint': 'containerd\'s CRI socket for --runtime cri (default unix:///run/containerd/containerd.sock)',
    'node-ip': 'the node\'s InternalIP (default: the first non-loopback IPv4 address)',
    devices: 'device twin, MQTT broker and mappers: auto (start when the first Device arrives, default), on or off',
    mqtt: 'MQTT event bus for device apps: embedded (an aedes broker in the agent, default) or an external broker URL such as mqtt://127.0.0.1:1883',
    'mqtt-host': 'address the embedded MQTT broker listens on (default 127.0.0.1)',
    'mqtt-port': 'port of the embedded MQTT broker (default 1883; 0 picks a free one)',
    mappers: 'run the built-in mappers (modbus TCP, virtual): on (default) or off',
  },
  async run(v) {
    const str = (k        ) => v[k]                      ;
    return runEdgeAgent({
      nodeName: str('node-name'), hub: str('hub'), quicPort: str('quic-port'), hubProtocol: str('hub-protocol'), serverName: str('server-name'),
      dataDir: str('data-dir'), caFile: str('ca-file'), certFile: str('cert-file'), keyFile: str('key-file'), root: str('root'),
      runtime: str('runtime'), criEndpoint: str('cri-endpoint'), nodeIP: str('node-ip'),
      devices: str('devices'), mqtt: str('mqtt'), mqttHost: str('mqtt-host'), mqttPort: str('mqtt-port'), mappers: str('mappers'),
    });
  },
};
