// A real Prometheus (built from source by e2e/controlplane/build-prometheus.sh) for e2e: scrapes
// targets on the host, loads rule files as it loads any, and answers the HTTP API.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CONTROLPLANE, eventually } from './cluster.js';
import { freePort } from './webhook.js';

export const PROMETHEUS = join(CONTROLPLANE, 'prometheus-bin/prometheus');

export interface ScrapeTarget {
  job: string;
  /** host:port */
  target: string;
  /** Target labels (as a ServiceMonitor adds namespace, pod, ...). */
  labels?: Record<string, string>;
}

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusProcess {
  readonly url: string;
  readonly logFile: string;
  /** An instant query; throws on an API error (a bad expression). */
  query(expr: string): Promise<Sample[]>;
  /** Alerts in the given state (firing or pending) by name, as /api/v1/alerts reports them. */
  alerts(state?: 'firing' | 'pending'): Promise<{ labels: Record<string, string>; state: string }[]>;
  stop(): Promise<void>;
}

/**
 * Starts Prometheus with one scrape job per target (honor_labels, as the chart's ServiceMonitor) and
 * the given rule files, at `intervalSeconds` for scraping and rule evaluation; resolves once it is
 * ready.
 */
export async function startPrometheus(opts: {
  dir: string;
  targets: ScrapeTarget[];
  ruleFiles: string[];
  intervalSeconds?: number;
}): Promise<PrometheusProcess> {
  mkdirSync(opts.dir, { recursive: true });
  const interval = `${opts.intervalSeconds ?? 1}s`;
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: opts.ruleFiles,
    scrape_configs: opts.targets.map((t) => ({
      job_name: t.job,
      honor_labels: true,
      static_configs: [{ targets: [t.target], ...(t.labels ? { labels: t.labels } : {}) }],
    })),
  };
  const configFile = join(opts.dir, 'prometheus.yml');
  writeFileSync(configFile, stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = join(opts.dir, 'prometheus.log');
  const out = createWriteStream(logFile);
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(opts.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=info',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.pipe(out, { end: false });
  child.stderr!.pipe(out, { end: false });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? res.status}`);
    return body.data;
  };
  const p: PrometheusProcess = {
    url,
    logFile,
    async query(expr) {
      const data = await api<{ resultType: string; result: Sample[] }>(
        `/api/v1/query?query=${encodeURIComponent(expr)}`,
      );
      return data.result;
    },
    async alerts(state) {
      const data = await api<{ alerts: { labels: Record<string, string>; state: string }[] }>(
        '/api/v1/alerts',
      );
      return data.alerts.filter((a) => !state || a.state === state);
    },
    async stop() {
      if (gone) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  try {
    await eventually(
      'prometheus ready',
      async () => {
        if (gone) throw new Error(`prometheus exited; see ${logFile}`);
        const r = await fetch(`${url}/-/ready`).catch(() => undefined);
        return r?.ok ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  } catch (err) {
    await p.stop();
    throw err;
  }
  return p;
}
