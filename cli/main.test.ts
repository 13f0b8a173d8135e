/**
 * Every command in cli/main.ts's list: `--help` exits 0 and shows its usage
 * and every flag; an unknown flag and a flag without its value exit 2 with
 * CLI_USAGE naming the flag; and the input checks of the install/join
 * commands say what is wrong and what to do, before touching anything.
 */
import { describe, expect, it, vi } from 'vitest';
import { commands, main } from './main.ts';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    const code = await main(argv);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('outpost CLI', () => {
  it('lists every command in --help and none as "not available" once it exists', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const c of commands) expect(r.out).toContain(`  ${c.name}`);
    for (const name of ['init', 'gettoken', 'join', 'reset', 'doctor']) expect(commands.find((c) => c.name === name)?.planned).toBeUndefined();
  });

  it('exits 2 for an unknown command', async () => {
    const r = await run(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/CLI_UNKNOWN_COMMAND.*"frobnicate"/);
  });

  describe.each(commands.map((c) => [c.name, c] as const))('%s', (name, c) => {
    it('--help shows the usage and every flag', async () => {
      const r = await run([name, '--help']);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`usage: ${c.usage}`);
      for (const flag of Object.keys(c.options)) {
        expect(r.out).toContain(`--${flag}`);
        expect(c.optionHelp[flag], `help text for --${flag}`).toBeTruthy();
      }
    });

    it('a bad flag exits 2 with CLI_USAGE naming it', async () => {
      const r = await run([name, '--no-such-flag']);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/CLI_USAGE/);
      expect(r.err).toContain('--no-such-flag');
      expect(r.err).toContain(`usage: ${c.usage}`);
    });

    const stringFlag = Object.entries(c.options).find(([, o]) => o.type === 'string')?.[0];
    it.runIf(stringFlag !== undefined)('a string flag without its value exits 2', async () => {
      const r = await run([name, `--${stringFlag}`]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/CLI_USAGE/);
      expect(r.err).toContain(`--${stringFlag}`);
    });
  });

  it.each([
    [['join', '--token', 'x'], /--cloud is required/],
    [['join', '--cloud', '10.0.0.5'], /--token is required.*outpost gettoken/],
    [['join', '--cloud', '10.0.0.5', '--token', 'nonsense', '--node-name', 'n1', '--root', '/nonexistent/outpost-test'], /join token is malformed/],
    [['join', '--cloud', '10.0.0.5', '--token', 'x', '--node-name', 'Bad_Name'], /--node-name "Bad_Name" is not a valid node name/],
    [['join', '--cloud', '10.0.0.5:99999', '--token', `${'a'.repeat(64)}.abcdef.${'b'.repeat(20)}.1`, '--node-name', 'n1', '--root', '/nonexistent/outpost-test'], /port 99999 is out of range/],
    [['join', '--cloud', '10.0.0.5', '--token', 'x', '--hub-protocol', 'tcp'], /--hub-protocol must be auto, quic or websocket/],
    [['gettoken', '--ttl', 'forever'], /--ttl: "forever" is not a duration; use e\.g\. 30m, 24h or 7d/],
    [['gettoken', '--ttl', '90d'], /--ttl must be between 1m and 30d/],
    [['gettoken', '--node-name', 'UPPER'], /--node-name "UPPER" is not a valid node name/],
    [['gettoken', '--state-dir', '/tmp/x', '--kubeconfig', '/tmp/y'], /not both/],
    [['init', '--local', '--image', 'x'], /--image, --dry-run and --advertise-hub-port are for cluster mode/],
    [['init', '--hub-port', '1'], /--hub-port is for --local/],
    [['init', '--advertise-address', 'not an address!'], /--advertise-address: "not an address!" is neither an IP address nor a DNS name/],
    [['init', '--webhooks', '--skip-webhooks'], /--webhooks or --skip-webhooks, not both/],
    [['reset'], /say which side: --edge or --cloud/],
    [['reset', '--edge', '--cloud'], /say which side/],
    [['reset', '--edge', '--delete-crds'], /--delete-crds is for --cloud/],
    [['doctor'], /say which side to check: --edge or --cloud/],
    [['doctor', '--cloud', '--root', '/x'], /--root is for --edge/],
    [['edge', '--root', '/tmp', '--hub', '1.2.3.4:5'], /--hub: cannot be combined with --root/],
    [['cloud', '--bootstrap-port', '10002', '--hub-port', '-1'], /--bootstrap-port needs --pki-dir or --pki-secret/],
    [['cloud', '--pki-dir', '/x', '--pki-secret', 'a/b', '--hub-port', '-1'], /either --pki-dir or --pki-secret/],
  ])('%j → exit 2, says what to do', async (argv, message) => {
    const r = await run(argv);
    expect(r.err).toMatch(message);
    expect(r.code).toBe(2);
  });

  it('reset asks for --force before deleting anything (exit 1, CLI_CONFIRM_REQUIRED)', async () => {
    const { mkdtempSync, writeFileSync, existsSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'outpost-reset-'));
    writeFileSync(join(dir, 'config.yaml'), 'kind: EdgeNodeConfig\nnodeName: n1\ncloud: {address: 10.0.0.5, caPin: "sha256:' + 'a'.repeat(64) + '", bootstrapPort: 10002, hubPort: 10000}\n');
    const r = await run(['reset', '--edge', '--root', dir]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/CLI_CONFIRM_REQUIRED.*edge node "n1".*pass --force/);
    expect(existsSync(join(dir, 'config.yaml'))).toBe(true);
    writeFileSync(join(dir, 'mine.txt'), 'not outpost');
    const f = await run(['reset', '--edge', '--root', dir, '--force']);
    expect(f.code).toBe(0);
    // only Outpost's files go; someone else's stay, and so does the directory
    expect(existsSync(join(dir, 'config.yaml'))).toBe(false);
    expect(existsSync(join(dir, 'mine.txt'))).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });
});
