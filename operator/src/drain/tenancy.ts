// What a CaptureDrain may make the operator do on its creator's behalf. Pure: the controller reads
// the pod, its StatefulSet and the operator's configuration, these rules decide.
//
// Whoever may create a CaptureDrain is not trusted with the operator's own rights:
//  - it may only drain (and delete) managed capture pods: labelled drain.ticdc.io/managed=true and
//    controlled by a StatefulSet that carries the same label (capturePodRefusal);
//  - credentials and TLS material only go to endpoints named by that StatefulSet's annotations or the
//    operator's configuration; an endpoint in spec must match the operator's --allowed-endpoints;
//    a Secret named in spec must be one the StatefulSet's annotations or the operator's defaults
//    already name (specRefusal).
import type { CaptureDrainSpec } from '../api/capturedrain.js';
import { MANAGED_LABEL, SETTINGS_ANNOTATIONS } from '../api/names.js';
import { ownerStatefulSet, type Pod, type StatefulSet } from '../kube/objects.js';
import type { OperatorDefaults } from './settings.js';

/** One entry of --allowed-endpoints: `host`, `host:port`, `*.domain` or `*.domain:port`. */
export interface EndpointPattern {
  /** Lower-case host; with `wildcard`, the domain any subdomain of which matches. */
  host: string;
  wildcard: boolean;
  /** Undefined: any port. */
  port?: number;
  text: string;
}

const HOST_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Parses one pattern; throws Error with a readable message when it is malformed. */
export function parseEndpointPattern(text: string): EndpointPattern {
  const t = text.trim().toLowerCase();
  const m = /^(\*\.)?(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d+))?$/.exec(t);
  const bad = () =>
    new Error(`allowed endpoint "${text}" must be HOST, HOST:PORT, *.DOMAIN or *.DOMAIN:PORT`);
  if (!m) throw bad();
  const wildcard = !!m[1];
  const host = m[2]!;
  const ipv6 = host.startsWith('[');
  if (!ipv6 && !host.split('.').every((l) => HOST_LABEL.test(l))) throw bad();
  if (wildcard && (ipv6 || !host.includes('.')))
    throw new Error(`allowed endpoint "${text}": a wildcard needs a domain of at least two labels`);
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && (port < 1 || port > 65535)) throw bad();
  return { host, wildcard, ...(port !== undefined ? { port } : {}), text: t };
}

export function parseEndpointPatterns(list: readonly string[]): EndpointPattern[] {
  return list.filter((s) => s.trim()).map(parseEndpointPattern);
}

/** Does the (http or https) URL's host and port match one of the patterns? */
export function endpointAllowed(url: string, patterns: readonly EndpointPattern[]): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  const host = u.hostname.toLowerCase();
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  return patterns.some(
    (p) =>
      (p.port === undefined || p.port === port) &&
      (p.wildcard ? host.endsWith(`.${p.host}`) : host === p.host),
  );
}

/** The origin (scheme://host:port) of an endpoint, or undefined when it is not an http(s) URL. */
function origin(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? `${u.protocol}//${u.host}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why the drain's pod is not one the operator drains, or undefined when it is a managed capture
 * pod: labelled managed, controlled by a StatefulSet (`statefulSet`, read by the owner reference's
 * name) with the same UID that is labelled managed too.
 */
export function capturePodRefusal(pod: Pod, statefulSet: StatefulSet | undefined): string | undefined {
  const id = `${pod.metadata.namespace}/${pod.metadata.name}`;
  const hint = `a CaptureDrain may only drain capture pods of a StatefulSet labelled ${MANAGED_LABEL}=true`;
  if (pod.metadata.labels?.[MANAGED_LABEL] !== 'true')
    return `pod ${id} is not a managed capture pod (no ${MANAGED_LABEL}=true label): ${hint}`;
  const owner = ownerStatefulSet(pod);
  if (!owner) return `pod ${id} is not controlled by a StatefulSet: ${hint}`;
  if (!statefulSet || statefulSet.metadata.uid !== owner.uid)
    return `the StatefulSet ${owner.name} that controls pod ${id} does not exist (any more): ${hint}`;
  if (statefulSet.metadata.labels?.[MANAGED_LABEL] !== 'true')
    return `StatefulSet ${owner.name} of pod ${id} is not labelled ${MANAGED_LABEL}=true: ${hint}`;
  return undefined;
}

/**
 * Why the spec's cluster overrides are not honoured, or undefined when they are: an endpoint must be
 * the one the StatefulSet or the operator already names, or match `allowedEndpoints`; a Secret must
 * be one the StatefulSet's annotations or the operator's defaults name.
 */
export function specRefusal(opts: {
  spec: CaptureDrainSpec;
  statefulSet?: StatefulSet;
  defaults: OperatorDefaults;
  allowedEndpoints: readonly EndpointPattern[];
}): string | undefined {
  const cluster = opts.spec.cluster;
  if (!cluster) return undefined;
  const ann = opts.statefulSet?.metadata.annotations ?? {};
  if (cluster.endpoint !== undefined) {
    const trusted = [ann[SETTINGS_ANNOTATIONS.endpoint], opts.defaults.endpoint].map(origin);
    const mine = origin(cluster.endpoint);
    if (!mine || (!trusted.includes(mine) && !endpointAllowed(cluster.endpoint, opts.allowedEndpoints)))
      return (
        `spec.cluster.endpoint ${JSON.stringify(cluster.endpoint)} is not allowed: the operator only talks to ` +
        `the endpoint of the pod's StatefulSet (${SETTINGS_ANNOTATIONS.endpoint}), its --default-endpoint, or ` +
        `endpoints matching its --allowed-endpoints (${opts.allowedEndpoints.map((p) => p.text).join(', ') || 'none'})`
      );
  }
  const secrets: [string, string | undefined, string, string | undefined][] = [
    ['tlsSecretRef', cluster.tlsSecretRef?.name, SETTINGS_ANNOTATIONS.tlsSecret, opts.defaults.tlsSecret],
    [
      'credentialsSecretRef',
      cluster.credentialsSecretRef?.name,
      SETTINGS_ANNOTATIONS.credentialsSecret,
      opts.defaults.credentialsSecret,
    ],
  ];
  for (const [field, name, annotation, fallback] of secrets) {
    if (name === undefined) continue;
    if (name === ann[annotation] || name === fallback) continue;
    return (
      `spec.cluster.${field} names Secret ${JSON.stringify(name)}, which neither the pod's StatefulSet ` +
      `(${annotation}) nor the operator's defaults name: the operator does not send Secrets on a ` +
      `CaptureDrain's say-so; annotate the StatefulSet instead`
    );
  }
  const credentials =
    cluster.credentialsSecretRef?.name ??
    ann[SETTINGS_ANNOTATIONS.credentialsSecret] ??
    opts.defaults.credentialsSecret;
  if (cluster.insecureSkipVerify && credentials)
    return (
      `spec.cluster.insecureSkipVerify would send the credentials of Secret ${credentials} over a connection ` +
      `whose server is not verified: put the CA in the TLS Secret (ca.crt) instead`
    );
  return undefined;
}
