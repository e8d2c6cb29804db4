// Operator replicas as a Deployment runs them: each a separate process authenticated as the chart's
// ServiceAccount, serving the termination gate's webhook on its own port behind one forwarding
// address (the webhook Service), restarted after a pod-start delay when it dies. The leader is the
// replica whose POD_NAME prefixes the Lease's holderIdentity.
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { KubeClient } from '../operator/src/kube/port.js';
import { Resources } from '../operator/src/kube/port.js';
import type { Lease } from '../operator/src/kube/leader.js';
import { freePort, gateOperatorArgs } from '../e2e/harness/webhook.js';
import { startOperator, type OperatorProcess } from '../e2e/harness/operator.js';

export const LEASE = 'capture-drain-operator';

interface Replica {
  name: string;
  port: number;
  proc: OperatorProcess;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Fleet {
  private readonly replicas: Replica[] = [];
  private seq = 0;
  private server: Server | undefined;
  private sockets = new Set<Socket>();
  private reachable = true;
  /** Replica starts pending (a restart delay running). */
  private pending = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly opts: {
      kubeconfig: string;
      namespace: string;
      logDir: string;
      args: string[];
      kube: KubeClient;
      /** Delay before a killed replica's replacement starts (a Deployment's reaction). */
      restartDelayMs: () => number;
    },
  ) {}

  /**
   * false: the webhook address refuses connections (the Service has no endpoints). The connections
   * already open close too: the API server keeps its webhook connection alive between calls, so
   * refusing only new ones would leave the webhook reachable.
   */
  set webhookReachable(on: boolean) {
    this.reachable = on;
    if (!on) for (const s of this.sockets) s.destroy();
  }

  get webhookReachable(): boolean {
    return this.reachable;
  }

  /** The webhook's address (a forwarder to any live replica's webhook port). */
  async webhookPort(): Promise<number> {
    if (this.server) return (this.server.address() as AddressInfo).port;
    this.server = createServer((sock) => this.forward(sock));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return (this.server.address() as AddressInfo).port;
  }

  private forward(sock: Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => undefined);
    const ports = this.replicas.map((r) => r.port);
    if (!this.webhookReachable || ports.length === 0) return void sock.destroy();
    const tryAt = (i: number) => {
      if (i >= ports.length) return void sock.destroy();
      const up = createConnection({ host: '127.0.0.1', port: ports[(i + this.seq) % ports.length]! });
      up.once('error', () => (sock.bytesWritten === 0 ? tryAt(i + 1) : sock.destroy()));
      up.once('connect', () => {
        sock.pipe(up);
        up.pipe(sock);
        up.on('close', () => sock.destroy());
        sock.on('close', () => up.destroy());
      });
    };
    tryAt(0);
  }

  async start(count: number): Promise<void> {
    for (let i = 0; i < count; i++) await this.startOne();
  }

  private async startOne(): Promise<void> {
    const name = `op-${++this.seq}`;
    const port = await freePort();
    const proc = startOperator({
      kubeconfig: this.opts.kubeconfig,
      namespace: this.opts.namespace,
      logDir: this.opts.logDir,
      name,
      env: { POD_NAME: name },
      extraArgs: [...this.opts.args, ...gateOperatorArgs(port)],
    });
    const r = { name, port, proc };
    this.replicas.push(r);
    void proc.exited.then(() => {
      const i = this.replicas.indexOf(r);
      if (i >= 0) this.replicas.splice(i, 1);
      if (this.stopped) return;
      // The Deployment replaces a dead replica.
      const p = sleep(this.opts.restartDelayMs()).then(() => (this.stopped ? undefined : this.startOne()));
      this.pending.add(p);
      void p.finally(() => this.pending.delete(p));
    });
  }

  get size(): number {
    return this.replicas.length;
  }

  async holder(): Promise<string> {
    const lease = await this.opts.kube.get<Lease>(Resources.leases, this.opts.namespace, LEASE);
    return lease?.spec?.holderIdentity ?? '';
  }

  /** The replica holding the Lease, if it is one of ours and alive. */
  async leader(): Promise<Replica | undefined> {
    const h = await this.holder();
    return this.replicas.find((r) => h.startsWith(`${r.name}_`));
  }

  /**
   * SIGKILL of the leader or a standby; for a leader kill, resolves with the ms until another live
   * replica holds the Lease (undefined for a standby, or when no leader was known).
   */
  async kill(which: 'leader' | 'standby'): Promise<{ killed: string; failoverMs?: number } | undefined> {
    const leader = await this.leader();
    const target = which === 'leader' ? leader : this.replicas.find((r) => r !== leader);
    if (!target) return undefined;
    const t0 = Date.now();
    await target.proc.kill();
    if (target !== leader) return { killed: `${target.name} (standby)` };
    for (;;) {
      await sleep(100);
      const h = await this.holder().catch(() => '');
      if (this.replicas.some((r) => h.startsWith(`${r.name}_`)))
        return { killed: `${target.name} (leader)`, failoverMs: Date.now() - t0 };
      if (Date.now() - t0 > 120_000) return { killed: `${target.name} (leader)` };
    }
  }

  /** Every replica stopped (SIGTERM), no replacement started. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.pending]);
    await Promise.all(this.replicas.map((r) => r.proc.stop(15_000)));
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
