// Entry point of a long-running command (bench-scale, chaos): runs main, prints what threw, and
// exits with main's code (1 when it threw), so open handles (watches, servers) never keep it alive.
export function runMain(main: () => Promise<number>): void {
  let exitCode = 1;
  main()
    .then(
      (code) => {
        exitCode = code;
      },
      (err: unknown) => {
        console.error(err);
        exitCode = 1;
      },
    )
    .finally(() => process.exit(exitCode));
}
