// Mapping a pod to its capture. Capture IDs change on every process start, so the only stable
// key is the advertise address (docs/ticdc-api.md §1 "Capture ID"). Users write it in several
// equivalent forms, so compare host names modulo the cluster-domain suffix.

/** Split host:port (IPv6 in brackets allowed). */
export function splitHostPort(address: string): { host: string; port: string } {
  const trimmed = address.trim().replace(/^[a-z]+:\/\//i, '');
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(trimmed) ?? /^([^:]+):(\d+)$/.exec(trimmed);
  if (!m) return { host: trimmed.toLowerCase(), port: '' };
  return { host: m[1]!.toLowerCase(), port: m[2]! };
}

/** `a.b.ns.svc.cluster.local` and `a.b.ns.svc` and `a.b.ns` name the same Service host. */
function canonicalHost(host: string): string {
  return host.replace(/\.$/, '').replace(/\.svc(\.[a-z0-9-]+)*$/, '');
}

export function sameCaptureAddress(a: string, b: string): boolean {
  const x = splitHostPort(a);
  const y = splitHostPort(b);
  if (x.port && y.port && x.port !== y.port) return false;
  return canonicalHost(x.host) === canonicalHost(y.host);
}

/** The first capture whose address matches any of the pod's candidate addresses. */
export function findCaptureByAddress<T extends { address: string }>(
  captures: readonly T[],
  candidates: readonly string[],
): T | undefined {
  return captures.find((c) => candidates.some((want) => sameCaptureAddress(c.address, want)));
}

/** Addresses a StatefulSet pod may advertise: its stable DNS name, and its IP. */
export function podAddressCandidates(opts: {
  podName: string;
  namespace: string;
  serviceName?: string;
  podIP?: string;
  port: number;
}): string[] {
  const out: string[] = [];
  if (opts.serviceName) out.push(`${opts.podName}.${opts.serviceName}.${opts.namespace}.svc:${opts.port}`);
  if (opts.podIP) out.push(`${opts.podIP}:${opts.port}`);
  return out;
}

/** The drain target in a capture list: by ID when given (CLI), else by the pod's addresses. */
export function findTarget<T extends { id: string; address: string }>(
  captures: readonly T[],
  target: { captureId?: string; addresses: readonly string[] },
): T | undefined {
  return target.captureId
    ? captures.find((c) => c.id === target.captureId)
    : findCaptureByAddress(captures, target.addresses);
}
