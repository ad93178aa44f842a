import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('npm run demo', () => {
  it('serves a plain and a fallen-back streamed request through the proxy (--smoke)', async () => {
    const { stdout } = await run('npm', ['run', '--silent', 'demo', '--', '--smoke'], { cwd: new URL('..', import.meta.url), timeout: 60_000 });
    expect(stdout).toContain('demo-gpt → 200 "Hello from fake upstream"');
    expect(stdout).toMatch(/demo-flaky \(stream, fell back\) → 200, \d+ events, ends with "data: \[DONE\]"/);
    expect(stdout).toContain('demo smoke ok');
  });
});
