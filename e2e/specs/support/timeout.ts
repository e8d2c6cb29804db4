// Jest reads testTimeout only from the global configuration, not from a project's, so the e2e
// project sets its own per-test budget here (long waits on the real control plane).
import { jest } from '@jest/globals';

jest.setTimeout(600_000);
