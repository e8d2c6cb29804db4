// The error type of the simulator's programmatic and control API: an HTTP status and a message.

export class SimError extends Error {
  override readonly name = 'SimError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
