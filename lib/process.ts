/**
 * Whether a process with `pid` exists (signal 0). EPERM means it exists but
 * belongs to someone else, which still counts as alive. Undefined/0 → false.
 */
export function processAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
