// Resolves what a CaptureDrain needs from its spec, then its pod's StatefulSet annotations,
// then the operator's defaults. Pure: the controller fetches the objects, this decides.
import {
  DEFAULTS,
  isDnsSubdomain,
  TIMEOUT_POLICIES,
  parseDuration,
  type CaptureDrainSpec,
  type TimeoutPolicy,
} from '../api/capturedrain.js';
import { podAddressCandidates, splitHostPort, sameCaptureAddress } from './address.js';
import type { DrainPolicy, DrainTarget } from './machine.js';
import type { ApiFlavorSetting } from '../ticdc/types.js';
import type { Pod, StatefulSet } from '../kube/objects.js';
import { SETTINGS_ANNOTATIONS } from '../api/names.js';

export const DEFAULT_CAPTURE_PORT = 8300;

export interface OperatorDefaults {
  timeout: string;
  stallTimeout: string;
  onTimeout: TimeoutPolicy;
  /** Used when neither the spec nor the StatefulSet names an endpoint. */
  endpoint?: string;
  /** Secret names (in the drain's namespace) used when neither the spec nor the StatefulSet names one. */
  tlsSecret?: string;
  credentialsSecret?: string;
}

export const BUILTIN_DEFAULTS: OperatorDefaults = {
  timeout: DEFAULTS.timeout,
  stallTimeout: DEFAULTS.stallTimeout,
  onTimeout: DEFAULTS.onTimeout,
};

export interface ClusterSettings {
  /** Normalized endpoint URL: also the key that serializes drains per TiCDC cluster. */
  endpoint: string;
  tlsSecret?: string;
  credentialsSecret?: string;
  insecureSkipVerify: boolean;
}

export interface DrainSettings {
  policy: DrainPolicy;
  target: DrainTarget;
  cluster: ClusterSettings;
}

export class SettingsError extends Error {
  override readonly name = 'SettingsError';
  /** True when the settings may resolve on their own (a Secret not created yet): retried until stallTimeout. */
  constructor(
    message: string,
    readonly retryable = false,
  ) {
    super(message);
  }
}

const FLAVORS: readonly ApiFlavorSetting[] = ['Auto', 'V1', 'V2', 'V2Classic'];

export function normalizeEndpoint(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SettingsError(`TiCDC endpoint "${url}" is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new SettingsError(`TiCDC endpoint "${url}" must use http or https`);
  // Credentials never belong in the key (or in status); they come from a Secret.
  return `${u.protocol}//${u.host}`;
}

function duration(value: string, where: string): number {
  try {
    const ms = parseDuration(value);
    if (ms <= 0) throw new Error('must be positive');
    return ms;
  } catch (err) {
    throw new SettingsError(`${where}: ${(err as Error).message}`);
  }
}

export function resolveSettings(opts: {
  namespace: string;
  spec: CaptureDrainSpec;
  pod?: Pod;
  statefulSet?: StatefulSet;
  defaults: OperatorDefaults;
}): DrainSettings {
  const { spec, statefulSet: sts, defaults } = opts;
  const ann = sts?.metadata.annotations ?? {};
  const stsName = sts ? `StatefulSet ${sts.metadata.name} annotation` : '';

  const endpointRaw = spec.cluster?.endpoint ?? ann[SETTINGS_ANNOTATIONS.endpoint] ?? defaults.endpoint;
  if (!endpointRaw)
    throw new SettingsError(
      `no TiCDC endpoint: set spec.cluster.endpoint, or the ${SETTINGS_ANNOTATIONS.endpoint} annotation on the pod's StatefulSet`,
    );
  const tlsSecret =
    spec.cluster?.tlsSecretRef?.name ?? ann[SETTINGS_ANNOTATIONS.tlsSecret] ?? defaults.tlsSecret;
  const credentialsSecret =
    spec.cluster?.credentialsSecretRef?.name ??
    ann[SETTINGS_ANNOTATIONS.credentialsSecret] ??
    defaults.credentialsSecret;
  for (const [what, name] of [
    ['TLS Secret', tlsSecret],
    ['credentials Secret', credentialsSecret],
  ] as const)
    if (name !== undefined && !isDnsSubdomain(name))
      throw new SettingsError(
        `${what} name "${name}" is not a valid Secret name (a DNS subdomain: lower case, digits, '-', '.')`,
      );
  let endpoint = normalizeEndpoint(endpointRaw);
  if (tlsSecret && endpoint.startsWith('http:')) endpoint = endpoint.replace(/^http:/, 'https:');

  const flavor = (spec.cluster?.apiFlavor ??
    ann[SETTINGS_ANNOTATIONS.apiFlavor] ??
    DEFAULTS.apiFlavor) as ApiFlavorSetting;
  if (!FLAVORS.includes(flavor))
    throw new SettingsError(
      `${stsName} ${SETTINGS_ANNOTATIONS.apiFlavor}: "${flavor}" is not one of ${FLAVORS.join(', ')}`,
    );

  const timeoutText = spec.timeout ?? ann[SETTINGS_ANNOTATIONS.timeout] ?? defaults.timeout;
  const stallText = spec.stallTimeout ?? ann[SETTINGS_ANNOTATIONS.stallTimeout] ?? defaults.stallTimeout;
  const onTimeout = (spec.onTimeout ??
    ann[SETTINGS_ANNOTATIONS.onTimeout] ??
    defaults.onTimeout) as TimeoutPolicy;
  if (!TIMEOUT_POLICIES.includes(onTimeout))
    throw new SettingsError(
      `${stsName} ${SETTINGS_ANNOTATIONS.onTimeout}: "${onTimeout}" is not Release or Hold`,
    );

  const portText = ann[SETTINGS_ANNOTATIONS.capturePort];
  const port = portText === undefined ? DEFAULT_CAPTURE_PORT : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new SettingsError(`${stsName} ${SETTINGS_ANNOTATIONS.capturePort}: "${portText}" is not a port`);

  if (spec.captureAddress && spec.podName && opts.pod) {
    // The address must be this pod's: else another pod's capture is drained and this one released.
    const own = podAddressCandidates({
      podName: spec.podName,
      namespace: opts.namespace,
      ...(sts?.spec?.serviceName ? { serviceName: sts.spec.serviceName } : {}),
      ...(opts.pod.status?.podIP ? { podIP: opts.pod.status.podIP } : {}),
      port,
    });
    const wanted = spec.captureAddress;
    const { port: wantedPort } = splitHostPort(wanted);
    const belongs = own.some((c) => sameCaptureAddress(`${splitHostPort(c).host}:${wantedPort}`, wanted));
    if (!belongs)
      throw new SettingsError(
        `spec.captureAddress ${spec.captureAddress} is not an address of pod ${spec.podName} (its addresses: ${own.join(', ') || 'none known'})`,
      );
  }
  const addresses = spec.captureAddress
    ? [spec.captureAddress]
    : spec.podName
      ? podAddressCandidates({
          podName: spec.podName,
          namespace: opts.namespace,
          ...(sts?.spec?.serviceName ? { serviceName: sts.spec.serviceName } : {}),
          ...(opts.pod?.status?.podIP ? { podIP: opts.pod.status.podIP } : {}),
          port,
        })
      : [];

  return {
    policy: {
      podAction: spec.podAction ?? DEFAULTS.podAction,
      timeoutMs: duration(timeoutText, spec.timeout ? 'spec.timeout' : `${SETTINGS_ANNOTATIONS.timeout}`),
      stallTimeoutMs: duration(
        stallText,
        spec.stallTimeout ? 'spec.stallTimeout' : `${SETTINGS_ANNOTATIONS.stallTimeout}`,
      ),
      onTimeout,
      apiFlavor: flavor,
      trackPod: !!spec.podName,
    },
    target: { addresses },
    cluster: {
      endpoint,
      ...(tlsSecret ? { tlsSecret } : {}),
      ...(credentialsSecret ? { credentialsSecret } : {}),
      insecureSkipVerify: spec.cluster?.insecureSkipVerify ?? false,
    },
  };
}
