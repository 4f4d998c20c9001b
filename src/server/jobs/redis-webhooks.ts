import { type ConnectionOptions, Queue, Worker } from "bullmq";
import type { Job, JobEvent } from "../contract/jobs.js";
import { attemptDelivery, type WebhookOptions, wants } from "../webhooks/dispatcher.js";
import type { RedisRecords } from "./redis-records.js";

const QUEUE = "webhooks";

interface DeliveryData {
  id: string;
  event: JobEvent;
}

/** Webhook deliveries as BullMQ jobs: durable, retried with exponential backoff by any worker. */
export function webhookQueue(connection: ConnectionOptions, prefix: string, options: WebhookOptions) {
  const queue = new Queue<DeliveryData>(QUEUE, { connection, prefix });
  return {
    async enqueue(job: Job | null, event: JobEvent): Promise<void> {
      if (!job || !wants(job, event)) return;
      await queue.add(
        "deliver",
        { id: job.id, event },
        {
          // One delivery per event, however many times the job's outcome is recorded.
          jobId: `${job.id}-${event.slice("job.".length)}`,
          attempts: options.maxAttempts ?? 6,
          backoff: { type: "exponential", delay: options.backoffMs ?? 1000 },
          removeOnComplete: true,
          removeOnFail: true,
        },
      );
    },
    close: () => queue.close(),
  };
}

/** Takes deliveries off the webhook queue; each attempt is recorded on its job. */
export function webhookWorker(
  connection: ConnectionOptions,
  prefix: string,
  options: WebhookOptions,
  records: RedisRecords,
): Worker<DeliveryData> {
  return new Worker<DeliveryData>(
    QUEUE,
    async (task) => {
      const job = await records.get(task.data.id);
      if (!job) return;
      const delivery = await attemptDelivery(options, job, task.data.event, task.attemptsMade + 1);
      await records.addDelivery(job.id, delivery);
      // Throwing hands the attempt back to BullMQ, which retries it after its backoff.
      if (!delivery.ok && options.secret) throw new Error(delivery.error ?? "delivery failed");
    },
    { connection, prefix, concurrency: 8 },
  );
}
