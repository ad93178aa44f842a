import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface MainProcess {
  child: ChildProcess;
  url: string;
  /** Everything the process printed so far, stdout and stderr. */
  output(): string;
  exited: Promise<number | null>;
}

export interface StartMainOptions {
  /** Extra node flags, placed before the entry point (e.g. `--expose-gc`, another `--import`). */
  nodeArgs?: readonly string[];
  /** Extra environment variables for the child. */
  env?: Readonly<Record<string, string>>;
}

/** The real `src/main.ts` in a child process, on `dir/config_default.yaml` + `config_added.yaml`. */
export async function startMain(dir: string, timeoutMs = 20_000, opts: StartMainOptions = {}): Promise<MainProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...(opts.nodeArgs ?? []), 'src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      YALLMP_CONFIG_DEFAULT: join(dir, 'config_default.yaml'),
      YALLMP_CONFIG_ADDED: join(dir, 'config_added.yaml'),
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`proxy did not start:\n${output}`));
    }, timeoutMs);
    child.stdout!.on('data', () => {
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  return { child, url, output: () => output, exited };
}
