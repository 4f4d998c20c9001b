// Loaded with --import into a CLI process under test: writes one line to stderr once the CLI
// listens for SIGINT, so that a test sends Ctrl-C after that and not while modules still load
// (when the signal's default action would end the process before the CLI can answer it).
const on = process.on.bind(process);
process.on = (event, listener) => {
  on(event, listener);
  if (event === "SIGINT") process.stderr.write("listening for SIGINT\n");
  return process;
};
