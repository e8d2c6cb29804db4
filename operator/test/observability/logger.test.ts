import { describe, expect, it } from '@jest/globals';
import { createLogger } from '../../src/observability/logger.js';

describe('createLogger', () => {
  it('redacts tokens, passwords and authorization headers', () => {
    const out: string[] = [];
    const log = createLogger({ level: 'info' }, { write: (s: string) => void out.push(s) });
    log.info(
      {
        headers: { authorization: 'Bearer abc.def' },
        token: 'tok',
        creds: { password: 'pw', user: 'root' },
        req: { Authorization: 'Basic x' },
      },
      'Calling API',
    );
    const line = JSON.parse(out[0]!) as Record<string, unknown>;
    expect(JSON.stringify(line)).not.toMatch(/abc\.def|"tok"|"pw"|Basic x/);
    expect(line).toMatchObject({
      name: 'capture-drain-operator',
      msg: 'Calling API',
      creds: { user: 'root', password: '[REDACTED]' },
    });
  });
});
