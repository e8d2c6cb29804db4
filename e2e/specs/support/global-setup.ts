// Starts the local control plane once for the e2e suites (filled in with the control-plane work).
export default async function globalSetup(): Promise<void> {}
