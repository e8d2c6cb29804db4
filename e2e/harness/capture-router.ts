// One local address for every simulator's captures: the operator runs outside the cluster, so a
// capture's advertise address (<pod>.<service>.<ns>.svc:8300) does not resolve. The operator is
// started with --capture-url-template <router>/capture/{address}; the router forwards each request
// to the simulator that registers that address (its resolveAddress), the way in-cluster DNS would.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TicdcSimulator } from '../ticdc-sim/index.js';

const sims = new Set<TicdcSimulator>();
let server: http.Server | undefined;
let base: Promise<string> | undefined;

export function registerSimulator(sim: TicdcSimulator): void {
  sims.add(sim);
}

export function unregisterSimulator(sim: TicdcSimulator): void {
  sims.delete(sim);
}

/** The operator flag pointing at the router (started on first use, unref'd). */
export async function captureUrlArgs(): Promise<string[]> {
  return ['--capture-url-template', `${await routerUrl()}/capture/{address}`];
}

function routerUrl(): Promise<string> {
  base ??= new Promise((resolve) => {
    server = http.createServer(forward);
    server.listen(0, '127.0.0.1', () => {
      server!.unref();
      resolve(`http://127.0.0.1:${(server!.address() as AddressInfo).port}`);
    });
  });
  return base;
}

function forward(req: http.IncomingMessage, res: http.ServerResponse): void {
  const m = /^\/capture\/([^/]+)(\/.*)?$/.exec(req.url ?? '');
  const address = m ? decodeURIComponent(m[1]!) : '';
  // A lookup by address, not a listing: the scale benchmark routes for hundreds of simulators.
  const sim = [...sims].find((s) => s.capture(address)?.address === address);
  // No process at that address: a reset, as a refused connection would be.
  if (!m || !sim) return void req.socket.destroy();
  const target = new URL(sim.resolveAddress(address) + (m[2] ?? '/'));
  const out = http.request(
    target,
    { method: req.method, headers: { ...req.headers, host: target.host } },
    (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    },
  );
  out.on('error', () => req.socket.destroy());
  req.pipe(out);
}
