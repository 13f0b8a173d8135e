// Shared by the edge/store tests: a fresh temp directory per test, removed afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

/** Returns a function that makes a new DB path in a per-test temp dir (cleaned up after each test). */
export function tempDbPaths(): (name?: string) => string {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return (name = 'edge.db') => {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-store-'));
    dirs.push(dir);
    return join(dir, name);
  };
}
