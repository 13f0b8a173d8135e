/**
 * Cleanup for tests that run pods with the process runtime: pods outlive the
 * agent by design (the next agent adopts them), so a test that stops its
 * agent must end the pods' process groups itself. Reads the pod records from
 * the agent's store (read-only) and SIGKILLs each recorded process group.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/** Kills every process group recorded in `<dataDir>/edge.db`; returns how many were signalled. */
export function killRecordedPods(dataDir: string): number {
  const path = join(dataDir, 'edge.db');
  if (!existsSync(path)) return 0;
  const db = new DatabaseSync(path, { readOnly: true });
  let n = 0;
  try {
    for (const r of db.prepare("SELECT value FROM meta WHERE key LIKE 'pods/%'").all() as { value: string }[]) {
      const rec = JSON.parse(r.value) as { containers: Record<string, { handle?: { data?: { pid?: number } } }> };
      for (const c of Object.values(rec.containers)) {
        const pid = Number(c.handle?.data?.pid ?? 0);
        if (!pid) continue;
        try {
          process.kill(-pid, 'SIGKILL');
          n++;
        } catch {
          /* already gone */
        }
      }
    }
  } finally {
    db.close();
  }
  return n;
}
