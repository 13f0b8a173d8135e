import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { parseDuration, MAX_TOKEN_TTL_MS, BootstrapServerError } from '../../cloud/bootstrap/index.ts';
import { isValidNodeName } from '../../lib/join-token.ts';
import { mintJoinToken } from '../install/token.ts';
import { defaultStateDir, readLocalSettings } from '../install/local.ts';

/** `outpost gettoken`: prints a single-use join token (stdout) and the join command (stderr). */
export const gettoken: Command = {
  name: 'gettoken',
  summary: 'print a single-use join token for a new edge node',
  usage: 'outpost gettoken [--ttl 24h] [--node-name NAME] [--state-dir DIR | --kubeconfig PATH]',
  options: {
    ttl: { type: 'string' },
    'node-name': { type: 'string' },
    description: { type: 'string' },
    'state-dir': { type: 'string' },
    kubeconfig: { type: 'string' },
  },
  optionHelp: {
    ttl: 'how long the token is valid: 30m, 24h, 7d (default 24h, at most 30d)',
    'node-name': 'only this node name may use the token (e.g. a long-TTL token for re-enrolment after expiry)',
    description: 'free text kept with the token (who asked for it, why)',
    'state-dir': `local cloud from "outpost init --local" (default ${defaultStateDir()} when it exists)`,
    kubeconfig: 'cluster the cloud runs in (default: KUBECONFIG, ~/.kube/config)',
  },
  async run(v) {
    let ttlMs: number;
    try {
      ttlMs = parseDuration(String(v.ttl ?? '24h'));
    } catch (err) {
      throw new CliError('CLI_USAGE', (err as BootstrapServerError).message);
    }
    if (ttlMs < 60_000 || ttlMs > MAX_TOKEN_TTL_MS) throw new CliError('CLI_USAGE', `--ttl must be between 1m and 30d, got "${String(v.ttl)}"`);
    const nodeName = v['node-name'] as string | undefined;
    if (nodeName !== undefined && !isValidNodeName(nodeName)) throw new CliError('CLI_USAGE', `--node-name "${nodeName}" is not a valid node name (lower-case letters, digits, "-" and ".")`);
    if (v['state-dir'] && v.kubeconfig) throw new CliError('CLI_USAGE', 'pass --state-dir (local cloud) or --kubeconfig (cluster), not both');
    const stateDir = (v['state-dir'] as string | undefined) ?? (!v.kubeconfig && readLocalSettings(defaultStateDir()) ? defaultStateDir() : undefined);
    const t = await mintJoinToken({
      ttlMs, ...(stateDir ? { stateDir } : {}), ...(v.kubeconfig ? { kubeconfig: String(v.kubeconfig) } : {}),
      ...(nodeName ? { nodeName } : {}), ...(v.description ? { description: String(v.description) } : {}),
    });
    process.stdout.write(`${t.token}\n`);
    const addr = t.addresses[0] ?? '<cloud address>';
    const host = addr.includes(':') ? `[${addr}]` : addr;
    process.stderr.write([
      `token valid until ${t.expiresAt.toISOString()}, for one node${nodeName ? ` named ${nodeName}` : ''}; CA ${t.caPin}`,
      'join an edge node with:',
      `  outpost join --cloud ${host}:${t.bootstrapPort} --token ${t.token}${nodeName ? ` --node-name ${nodeName}` : ''}${t.hubPort ? ` --hub-port ${t.hubPort}` : ''}`,
      ...(t.addresses.length > 1 ? [`(the hub certificate is valid for: ${t.addresses.join(', ')})`] : []),
      '',
    ].join('\n'));
    return 0;
  },
};
