// Node/V8 flags the operator process runs with (the image's ENTRYPOINT, bin/capture-drain operator,
// and every test or benchmark that starts the operator use this list).
//
// --max-semi-space-size: V8 grows the young generation with the allocation rate, up to 64 MiB per
// semi-space on a 64-bit host, i.e. 128 MiB of new space that, once scavenged, stays resident. The
// operator's live heap is small (~35-45 MiB with 500 cached pods and 50 drains: heap snapshots), but
// each reconcile and watch event parses Kubernetes JSON, so under 50+ concurrent drains the new space
// reached its maximum and the process's RSS grew by ~130 MiB with no leak behind it. 16 MiB semi-spaces
// (32 MiB of new space) keep scavenges cheap and rare enough while bounding that growth.
//
// --heap-growing-percent: after a full GC, V8 lets the old generation grow up to 4x the live size
// before the next one. With 200 drains the live heap is ~60 MiB but what reconciles and watch events
// promote and then drop piled up to 150 MiB before a full GC (RSS 294 MiB). A fixed 1.3x keeps old
// space near the live size at the cost of more frequent (mostly concurrent) full GCs.
export const OPERATOR_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=16',
  '--heap-growing-percent=30',
];
