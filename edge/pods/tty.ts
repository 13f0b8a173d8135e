/**
 * A terminal for `kubectl exec -t` on the process runtime, without a native
 * module: util-linux `script(1)` (Debian's essential bsdutils) opens the
 * pseudo-terminal and runs `$SHELL -c <command>` on it. The command text is
 * the constant {@link TTY_LAUNCHER}; the argv to run reaches it only as
 * environment variables (OUTPOST_TTY_ARGC, OUTPOST_TTY_ARG_<i>), which it
 * moves into "$@" and execs, so nothing is ever built into shell text from
 * input. Terminal size changes are applied to the pty from outside with
 * `stty -F /dev/pts/N`, which makes the kernel signal SIGWINCH to the
 * program in the terminal.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';

/** Run by `/bin/sh -c` inside the pty: rebuilds argv from the environment, restores SHELL, execs. */
export const TTY_LAUNCHER = 'n="$OUTPOST_TTY_ARGC"; i=0; set --; '
  + 'while [ "$i" -lt "$n" ]; do eval "set -- \\"\\$@\\" \\"\\${OUTPOST_TTY_ARG_$i}\\""; unset "OUTPOST_TTY_ARG_$i"; i=$((i+1)); done; '
  + 'unset OUTPOST_TTY_ARGC; '
  + 'if [ -n "${OUTPOST_TTY_SHELL+x}" ]; then SHELL="$OUTPOST_TTY_SHELL"; unset OUTPOST_TTY_SHELL; else unset SHELL; fi; '
  + 'exec "$@"';

/** The `script(1)` invocation that runs `argv` on a new pty with `env` (pure). */
export function ttyInvocation(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): { file: string; args: string[]; env: Record<string, string> } {
  if (argv.length === 0) throw new RangeError('ttyInvocation needs a command');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !k.startsWith('OUTPOST_TTY_')) out[k] = v;
  if (env.SHELL !== undefined) out.OUTPOST_TTY_SHELL = env.SHELL;
  out.SHELL = '/bin/sh';
  out.TERM ??= 'xterm';
  out.OUTPOST_TTY_ARGC = String(argv.length);
  argv.forEach((a, i) => (out[`OUTPOST_TTY_ARG_${i}`] = a));
  // -q: no start/done banners; -e: exit with the command's status; -f: flush every write;
  // the typescript file is /dev/null (we stream the terminal's output ourselves)
  return { file: 'script', args: ['-q', '-e', '-f', '-c', TTY_LAUNCHER, '/dev/null'], env: out };
}

/** The pty slave (/dev/pts/N) the command started by `script` (pid) runs on, once it runs. */
export function ptyOf(scriptPid: number): string | undefined {
  try {
    const children = readFileSync(`/proc/${scriptPid}/task/${scriptPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    for (const c of children) {
      const tty = readlinkSync(`/proc/${c}/fd/0`);
      if (tty.startsWith('/dev/pts/')) return tty;
    }
  } catch {
    // not started yet, or already gone
  }
  return undefined;
}

/** Sets the terminal size of `pty`; resolves true when stty succeeded. */
export function resizePty(pty: string, cols: number, rows: number): Promise<boolean> {
  if (!/^\/dev\/pts\/\d+$/.test(pty) || !Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1 || cols > 10_000 || rows > 10_000) return Promise.resolve(false);
  return new Promise((resolve) => {
    const p = spawn('stty', ['-F', pty, 'cols', String(cols), 'rows', String(rows)], { stdio: 'ignore' });
    p.once('error', () => resolve(false));
    p.once('close', (code) => resolve(code === 0));
  });
}
