import { fieldError, validationProblem } from "../middleware/validation.js";
import { checkWebhookUrl, WebhookUrlError } from "../webhooks/url-guard.js";

/** Refuses, as a 422 at `webhook.url`, a URL the webhook guard refuses (private addresses among them). */
export async function checkWebhook(url: string, allowPrivate: boolean): Promise<void> {
  try {
    await checkWebhookUrl(url, { allowPrivate });
  } catch (e) {
    if (e instanceof WebhookUrlError) throw validationProblem([fieldError(["webhook", "url"], e.message)]);
    throw e;
  }
}
