/**
 * exec -t on the process runtime: the real script(1) and stty, on a real pty.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ptyOf, resizePty, ttyInvocation, TTY_LAUNCHER } from './tty.ts';

function run(argv: string[], env: Record<string, string | undefined>, during?: (pid: number) => Promise<void>) {
  const inv = ttyInvocation(argv, env);
  const c = spawn(inv.file, inv.args, { env: inv.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  c.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ code: number | null; out: string }>((r) => c.on('close', (code) => r({ code, out })));
  void during?.(c.pid!);
  return done;
}

describe('exec -t on the process runtime (script(1))', () => {
  it('runs argv verbatim on a pty, whatever the arguments contain, with the exit code and a clean environment', async () => {
    const hostile = '$(touch /tmp/outpost-pwned) `id` "q" \'x\' ; exit 9\nnext';
    const r = await run(['sh', '-c', 'printf "<%s>\\n" "$1"; tty; echo "SHELL=${SHELL-unset}"; env | grep -c ^OUTPOST_TTY || true; exit 5', 'argv0', hostile], { PATH: process.env.PATH });
    expect(r.out.replace(/\r\n/g, '\n')).toBe(`<${hostile}>\n${/\/dev\/pts\/\d+/.exec(r.out)![0]}\nSHELL=unset\n0\n`);
    expect(r.code).toBe(5);
  });

  it('keeps the caller\'s SHELL for the command', async () => {
    const r = await run(['sh', '-c', 'echo "$SHELL"'], { PATH: process.env.PATH, SHELL: '/bin/zsh-of-the-pod' });
    expect(r.out.trim()).toBe('/bin/zsh-of-the-pod');
  });

  it('applies terminal size changes to the running command', async () => {
    const r = await run(['sh', '-c', 'sleep 0.5; stty size'], { PATH: process.env.PATH }, async (pid) => {
      let pty: string | undefined;
      for (let i = 0; i < 100 && !pty; i++) {
        pty = ptyOf(pid);
        if (!pty) await new Promise((res) => setTimeout(res, 10));
      }
      expect(await resizePty(pty!, 120, 40)).toBe(true);
    });
    expect(r.out.trim()).toBe('40 120');
  });

  it('refuses sizes and paths that are not a terminal size and a pty', async () => {
    expect(await resizePty('/etc/passwd', 80, 24)).toBe(false);
    expect(await resizePty('/dev/pts/0', 0, 24)).toBe(false);
  });

  it('the launcher is constant text: input reaches it only through the environment', () => {
    expect(ttyInvocation(['a', 'b c'], {}).args).toEqual(['-q', '-e', '-f', '-c', TTY_LAUNCHER, '/dev/null']);
    expect(() => ttyInvocation([], {})).toThrow(/needs a command/);
  });
});
