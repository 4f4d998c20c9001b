/**
 * A bad setting; the message names it. Here, below both, because the server's configuration and
 * the command line's own checks both throw it, and the command line exits 2 on it.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}
