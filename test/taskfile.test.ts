import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SERVER_NODE_FLAGS } from '../scripts/bench/processes.ts';

const root = new URL('..', import.meta.url);
const taskfile = parse(readFileSync(new URL('Taskfile.yml', root), 'utf8')) as { tasks: Record<string, { cmds: unknown[] }> };
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> };

describe('Taskfile.yml is a thin alias of npm scripts', () => {
  it.each(Object.entries(taskfile.tasks))('task %s calls exactly one existing npm script', (_name, task) => {
    expect(task.cmds).toHaveLength(1);
    const cmd = String(task.cmds[0]);
    const m = /^npm (?:run (\S+)|test)(?: -- \{\{\.CLI_ARGS\}\})?$/.exec(cmd);
    expect(m, cmd).not.toBeNull();
    const script = m![1] ?? 'test';
    expect(pkg.scripts[script], `npm script ${script}`).toBeDefined();
  });

  it('has the database and clean tasks the seed promises', () => {
    for (const name of ['db:migrate', 'db:current', 'db:history', 'db:rollback', 'db:create', 'clean']) {
      expect(taskfile.tasks[name], name).toBeDefined();
    }
  });

  it('.ci/run runs the README test command', () => {
    const readme = readFileSync(new URL('README.md', root), 'utf8');
    const ci = readFileSync(new URL('.ci/run', root), 'utf8');
    const testCmd = /```(?:bash|sh)?\n(npm ci && npm test)\n```/.exec(readme);
    expect(testCmd, 'README shows `npm ci && npm test`').not.toBeNull();
    expect(ci).toContain(testCmd![1]);
  });

  it('npm start replaces its shell, so a SIGTERM sent to npm reaches the proxy (and it drains)', () => {
    // npm forwards the signal to its child; a shell in between would die and leave node running.
    expect(pkg.scripts.start).toMatch(/^exec /);
  });

  it('npm start and the in-process benchmarks run with the node flags the proxy benchmark measures', () => {
    expect(SERVER_NODE_FLAGS.length).toBeGreaterThan(0);
    for (const script of ['start', 'bench:writer', 'bench:parsers']) {
      const cmd = pkg.scripts[script] ?? '';
      expect(cmd, script).toMatch(/^(?:exec )?node .*--import tsx /);
      for (const flag of SERVER_NODE_FLAGS) expect(cmd.split(' '), `${script} has ${flag}`).toContain(flag);
    }
  });
});
