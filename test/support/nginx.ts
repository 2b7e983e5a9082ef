import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from './ports.js';

/** The configuration operators run (deploy/README.md): the test runs this file, not a copy. */
export const NGINX_CONF = fileURLToPath(new URL('../../deploy/nginx.conf', import.meta.url));

/** The nginx binary on PATH or where Debian puts it, or undefined when it is not installed. */
export function nginxBinary(): string | undefined {
  for (const candidate of ['nginx', '/usr/sbin/nginx']) {
    if (spawnSync(candidate, ['-v'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return undefined;
}

export type Nginx = { url: string; child: ChildProcess; errorLog(): Promise<string>; stop(): Promise<void> };

/**
 * Starts nginx on a free loopback port in front of `upstreams` (host:port each), in a temporary
 * prefix: deploy/nginx.conf is linked there, so the files it includes (the replicas, the listen
 * line) are the test's, and everything nginx writes (pid, temp files, error log) stays there.
 */
export async function startNginx(binary: string, upstreams: string[]): Promise<Nginx> {
  const prefix = await mkdtemp(join(tmpdir(), 'switchboard-nginx-'));
  const port = await freePort();
  await symlink(NGINX_CONF, join(prefix, 'nginx.conf'));
  await writeFile(join(prefix, 'switchboard-upstreams.conf'), upstreams.map((u) => `server ${u};\n`).join(''));
  await writeFile(join(prefix, 'switchboard-listen.conf'), `listen 127.0.0.1:${port};\n`);
  const errorLogPath = join(prefix, 'error.log');
  const child = spawn(binary, ['-p', `${prefix}/`, '-c', join(prefix, 'nginx.conf'), '-e', errorLogPath, '-g', `daemon off; error_log ${errorLogPath} warn;`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const errorLog = async () => `${await readFile(errorLogPath, 'utf8').catch(() => '')}${stderr}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      // QUIT: a graceful stop, so nginx's workers go with it.
      child.kill('SIGQUIT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(prefix, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    await Promise.race([
      waitFor(`${url}/healthz`, 10_000),
      new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`nginx exited with ${code}`)))),
    ]);
  } catch (err) {
    const log = await errorLog();
    await stop();
    throw new Error(`${(err as Error).message}\nnginx error log:\n${log}`);
  }
  return { url, child, errorLog, stop };
}
