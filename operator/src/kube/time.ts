// Kubernetes timestamp formats. metav1.Time is RFC 3339 with whole seconds; metav1.MicroTime
// (Lease acquireTime/renewTime, events.k8s.io Event eventTime) MUST carry exactly 6 fractional
// digits: the API server rejects JavaScript's 3-digit toISOString() with a 400.

/** metav1.Time: `2026-11-21T10:00:00Z` (seconds precision, like the API server writes it). */
export function rfc3339(at: Date | number = Date.now()): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** metav1.MicroTime: `2026-11-21T10:00:00.123000Z` (JS clocks have millisecond resolution). */
export function microTime(at: Date | number = Date.now()): string {
  return new Date(at).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Parses Time or MicroTime to epoch ms (Date.parse copes with 6 digits); NaN when absent/invalid. */
export function parseTime(text: string | undefined): number {
  return text ? Date.parse(text) : Number.NaN;
}
