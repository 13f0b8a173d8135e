import { hostname } from 'node:os';
import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { enrollNode, IdentityError, processAlive, readPidFile, defaultRoot } from '../../edge/identity/index.ts';
import { isValidNodeName, JoinTokenError } from '../../lib/join-token.ts';
import { runEdgeAgent } from './edge.ts';

function port(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new CliError('CLI_USAGE', `--${name} must be a port number, got "${String(v)}"`);
  return n;
}

/** `outpost join`: enrols this machine as an edge node under --root, then runs the agent (or prints how). */
export const join: Command = {
  name: 'join',
  summary: 'join this machine to a cluster as an edge node',
  usage: 'outpost join --cloud HOST[:PORT] --token TOKEN [--node-name NAME] [--root DIR] [--no-start] [--force-reenroll]',
  options: {
    cloud: { type: 'string' },
    token: { type: 'string' },
    'node-name': { type: 'string' },
    root: { type: 'string' },
    'hub-protocol': { type: 'string' },
    'hub-port': { type: 'string' },
    'quic-port': { type: 'string' },
    'server-name': { type: 'string' },
    'force-reenroll': { type: 'boolean' },
    'no-start': { type: 'boolean' },
  },
  optionHelp: {
    cloud: 'address of the cloud\'s bootstrap endpoint, host or host:port (default port 10002); must be in the hub certificate',
    token: 'join token from "outpost gettoken" (single use)',
    'node-name': `this node's name (default: the host name, "${hostname().toLowerCase()}")`,
    root: `directory for config, certificates and the local store (default ${defaultRoot})`,
    'hub-protocol': 'auto (QUIC, falling back to WebSocket), quic or websocket (default: what the cloud serves)',
    'hub-port': 'hub port when it differs from what the cloud advertises (NodePort, NAT)',
    'quic-port': 'UDP port of the hub\'s QUIC listener when it differs from the hub port',
    'server-name': 'name to verify in the cloud certificate when --cloud is an address it does not list',
    'force-reenroll': 'this root is already joined (same cloud and name): get a new certificate with a fresh token, keeping the local store (e.g. after expiry)',
    'no-start': 'only join; print how to run the agent',
  },
  async run(v) {
    if (!v.cloud) throw new CliError('CLI_USAGE', '--cloud is required: the address of the cloud\'s bootstrap endpoint, e.g. 10.0.0.5 or 10.0.0.5:10002');
    if (!v.token) throw new CliError('CLI_USAGE', '--token is required: run "outpost gettoken" on the cloud side');
    const nodeName = String(v['node-name'] ?? hostname().toLowerCase());
    if (!isValidNodeName(nodeName) || nodeName.length > 52) throw new CliError('CLI_USAGE', `--node-name "${nodeName}" is not a valid node name (lower-case letters, digits, "-" and ".", at most 52 characters)${v['node-name'] ? '' : '; the host name is not usable, pass --node-name'}`);
    const hp = v['hub-protocol'] as string | undefined;
    if (hp !== undefined && !['auto', 'quic', 'websocket'].includes(hp)) throw new CliError('CLI_USAGE', `--hub-protocol must be auto, quic or websocket, got "${hp}"`);
    const root = String(v.root ?? defaultRoot);
    const hubPort = port('hub-port', v['hub-port']);
    const quicPort = port('quic-port', v['quic-port']);
    const say = (l: string) => process.stderr.write(`${l}\n`);
    let r;
    try {
      r = await enrollNode({
        root, cloud: String(v.cloud), token: String(v.token), nodeName, reenroll: v['force-reenroll'] === true,
        ...(hp ? { protocol: hp as 'auto' | 'quic' | 'websocket' } : {}), ...(hubPort ? { hubPort } : {}), ...(quicPort ? { quicPort } : {}),
        ...(v['server-name'] ? { serverName: String(v['server-name']) } : {}),
      });
    } catch (err) {
      if (err instanceof JoinTokenError || (err instanceof IdentityError && err.code === 'IDENTITY_INVALID_ARGUMENT')) throw new CliError('CLI_USAGE', err.message);
      throw err;
    }
    const running = readPidFile(root);
    const alive = running !== undefined && running !== process.pid && processAlive(running);
    if (r.status === 'already-joined') {
      if (r.expired) {
        say(`outpost join: ${root} is already joined as "${nodeName}", but its certificate expired${r.notAfter ? ` at ${r.notAfter.toISOString()}` : ''}; run again with --force-reenroll and a fresh token (the local store is kept)`);
        return 1;
      }
      say(`outpost join: ${root} is already joined as "${nodeName}" to this cloud (certificate valid until ${r.notAfter?.toISOString()}); nothing to do.`);
      if (!alive) say(`run the agent with: outpost edge --root ${root}`);
      return 0;
    }
    say(`outpost join: ${r.status === 'reenrolled' ? 're-enrolled' : 'joined'} as "${nodeName}" (certificate valid until ${r.notAfter?.toISOString()}); config, certificates and store are in ${root}`);
    if (alive) {
      // the running agent adopts the new certificate at once (edge --root reloads on SIGHUP)
      process.kill(running!, 'SIGHUP');
      say(`the running agent (pid ${running}) was told to load the new certificate`);
      return 0;
    }
    if (v['no-start']) {
      say(`run the agent with: outpost edge --root ${root}`);
      return 0;
    }
    say('starting the agent (Ctrl-C stops it; later: outpost edge --root ' + root + ')');
    return runEdgeAgent({ root });
  },
};
