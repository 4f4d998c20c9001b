import { CloudWatchClient, type MetricDatum, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import type { JobCounts, JobQueue } from "./contract/jobs.js";
import { type FailureLedger, memoryFailureLedger } from "./failure-ledger.js";

/**
 * The queue metrics that the deployment scales and alarms on (infra/lib/metrics.ts names them),
 * published with CloudWatch PutMetricData every interval while the server runs.
 */

export interface CloudWatchOptions {
  namespace: string;
  /** The value of the one dimension, `Deployment`. */
  deployment: string;
  /** An endpoint instead of the region's (tests, compatible services). */
  endpoint?: string | undefined;
  intervalMs: number;
  /** Where a failed publish is reported; default: stderr. */
  log?: ((line: string) => void) | undefined;
  /** Longest wait for the last publish on stop. Default 5 s. */
  stopTimeoutMs?: number | undefined;
  /**
   * Which failures were reported, shared by the publishers of one deployment so that each failure
   * counts once in the JobsFailed sum (default: this process's own). Closed on stop.
   */
  ledger?: FailureLedger | undefined;
}

export interface MetricsPublisher {
  /** Stops the timer and publishes once more (failures counted since the last datapoint); never rejects. */
  stop(): Promise<void>;
}

/** Starts publishing `queue`'s metrics; the first datapoint goes out after one interval. */
export function startCloudWatchMetrics(queue: JobQueue, options: CloudWatchOptions): MetricsPublisher {
  const log = options.log ?? ((line: string) => process.stderr.write(`dualrs: ${line}\n`));
  const client = new CloudWatchClient({
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    // A publish that hangs would hold back the next one and a clean stop; the next interval retries anyway.
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 5000, requestTimeout: 10_000 },
  });
  const ledger = options.ledger ?? memoryFailureLedger(queue);
  // Failures from before the first publisher started are not reported.
  const primed = ledger.prime().catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;

  const publish = async (signal?: AbortSignal) => {
    let failed = 0;
    try {
      await primed;
      const now = new Date();
      const counts = await queue.counts();
      failed = await ledger.take();
      const data = await sample(queue, counts, failed, now);
      const MetricData = data.map((d) => ({
        ...d,
        Timestamp: now,
        Dimensions: [{ Name: "Deployment", Value: options.deployment }],
      }));
      await client.send(new PutMetricDataCommand({ Namespace: options.namespace, MetricData }), {
        abortSignal: signal,
      });
    } catch (e) {
      await ledger.giveBack(failed).catch(() => {});
      // Metrics are advisory: a failed publish must never take the API down with it.
      log(`CloudWatch metrics not published: ${(e as Error).message}`);
    }
  };
  const schedule = () => {
    timer = setTimeout(() => {
      running = publish().finally(() => {
        if (!stopped) schedule();
      });
    }, options.intervalMs);
    // The timer alone must not keep a process alive that is otherwise done.
    timer.unref();
  };
  schedule();

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      const timeout = options.stopTimeoutMs ?? 5000;
      await Promise.race([running, new Promise((resolve) => setTimeout(resolve, timeout).unref())]);
      await publish(AbortSignal.timeout(timeout));
      client.destroy();
      await ledger.close();
    },
  };
}

/** The datapoints of one publish, without timestamp and dimension. */
async function sample(queue: JobQueue, counts: JobCounts, failed: number, now: Date): Promise<MetricDatum[]> {
  return [
    { MetricName: "QueueBacklog", Unit: "Count", Value: counts.queued + counts.running },
    { MetricName: "OldestQueuedJobAgeSeconds", Unit: "Seconds", Value: await oldestQueuedAge(queue, now) },
    { MetricName: "JobsFailed", Unit: "Count", Value: failed },
  ];
}

/** Seconds since the oldest queued job was accepted, 0 when none waits. */
export async function oldestQueuedAge(queue: JobQueue, now: Date): Promise<number> {
  const oldest = await queue.oldestQueued();
  return oldest ? Math.max(0, (now.getTime() - Date.parse(oldest.createdAt)) / 1000) : 0;
}
