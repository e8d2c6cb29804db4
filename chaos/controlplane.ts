// Faults of the control plane itself: kube-apiserver and etcd paused (SIGSTOP/SIGCONT) or restarted
// (SIGTERM, then the same command line again). The components are the ones start.sh launched; a
// restarted one is written back into the state dir's pids file so stop.sh still stops it.
import { spawn } from 'node:child_process';
import { openSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type Component = 'kube-apiserver' | 'etcd';

interface Entry {
  name: string;
  pid: number;
  exe: string;
}

function entries(stateDir: string): Entry[] {
  return readFileSync(join(stateDir, 'pids'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [name, pid, exe] = l.split(' ');
      return { name: name!, pid: Number(pid), exe: exe! };
    });
}

function pidOf(stateDir: string, c: Component): number {
  const e = entries(stateDir).find((x) => x.name === c);
  if (!e) throw new Error(`${c} not in ${stateDir}/pids`);
  return e.pid;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function pause(stateDir: string, c: Component): void {
  process.kill(pidOf(stateDir, c), 'SIGSTOP');
}

export function resume(stateDir: string, c: Component): void {
  process.kill(pidOf(stateDir, c), 'SIGCONT');
}

/** SIGTERM (SIGKILL after 20 s), then the same executable, arguments, environment and directory. */
export async function restart(stateDir: string, c: Component): Promise<void> {
  const pid = pidOf(stateDir, c);
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  const env = Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  const cwd = readlinkSync(`/proc/${pid}/cwd`);
  const exe = readlinkSync(`/proc/${pid}/exe`);
  process.kill(pid, 'SIGCONT');
  process.kill(pid, 'SIGTERM');
  for (let i = 0; alive(pid) && i < 200; i++) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (let i = 0; alive(pid) && i < 50; i++) await sleep(100);
  const log = openSync(join(stateDir, 'logs', `${c}.log`), 'a');
  const child = spawn(exe, args.slice(1), { cwd, env, detached: true, stdio: ['ignore', log, log] });
  child.unref();
  const lines = entries(stateDir).map((e) =>
    e.name === c ? `${c} ${child.pid} ${e.exe}` : `${e.name} ${e.pid} ${e.exe}`,
  );
  writeFileSync(join(stateDir, 'pids'), lines.join('\n') + '\n');
}
