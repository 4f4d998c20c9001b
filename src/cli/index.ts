#!/usr/bin/env node
import { InputError } from "../core/errors.js";
import { ConfigError } from "../runtime/config-error.js";
import { certifyUsage } from "./args.js";
import { certifyCommand } from "./certify.js";
import { UsageError } from "./errors.js";
import { evaluateCommand, evaluateUsage } from "./evaluate.js";
import { labelsCommand, labelsUsage } from "./labels.js";
import { modelsCommand, modelsUsage } from "./models.js";
import { serveCommand, serveUsage } from "./serve.js";
import { workerCommand, workerUsage } from "./worker.js";

const usage = `Usage: dualrs <command> [options]

Commands:
  certify    certify one input against a certifier manifest (dualrs certify --help)
  evaluate   certified accuracy on a data set (dualrs evaluate --help)
  labels     the table a variance estimator is trained from (dualrs labels --help)
  models     make a certifier of your own ONNX models, or push one to S3 (dualrs models --help)
  serve      run the HTTP API (dualrs serve --help)
  worker     run jobs from Redis (dualrs worker --help)
`;

/** Exit status: 0 done, 1 failure, 2 bad command line or input, 130 interrupted. */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    process.stderr.write(usage);
    return 2;
  }
  if (command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(usage);
    return 0;
  }
  const commands = {
    certify: [certifyCommand, certifyUsage],
    evaluate: [evaluateCommand, evaluateUsage],
    labels: [labelsCommand, labelsUsage],
    models: [modelsCommand, modelsUsage],
    serve: [serveCommand, serveUsage],
    worker: [workerCommand, workerUsage],
  } as const;
  if (!Object.hasOwn(commands, command))
    throw new UsageError(`unknown command "${command}"; try dualrs --help`);
  const [run, help] = commands[command as keyof typeof commands];
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(help);
    return 0;
  }
  const controller = new AbortController();
  // First Ctrl-C stops after the current batch and releases the models; a second one exits at once.
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  try {
    await run(rest, controller.signal);
    return 0;
  } finally {
    process.off("SIGINT", onSigint);
  }
}

function exitCode(e: unknown): number {
  if (e instanceof UsageError || e instanceof InputError || e instanceof ConfigError) return 2;
  if (e instanceof Error && e.name === "AbortError") return 130;
  return 1;
}

/** One line; a bad request field is named by its flag (["alphaSplit"] -> --alpha-split). */
function describe(e: unknown): string {
  if (exitCode(e) === 130) return "interrupted";
  const message = (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "";
  const field = e instanceof InputError ? e.path[0] : undefined;
  if (typeof field !== "string" || field === "input" || field === "shape") return message;
  return `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${message}`;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`dualrs: ${describe(e)}\n`);
    process.exitCode = exitCode(e);
  },
);
