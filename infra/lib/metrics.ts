/**
 * The CloudWatch metrics that the service publishes (PutMetricData) and the stack scales and
 * alarms on. A process given CLOUDWATCH_NAMESPACE publishes them every 60 seconds with one
 * dimension, `Deployment` = DEPLOYMENT_NAME. Queue gauges may come from several processes at once
 * (each API task reads the same queue), so the stack reads their Maximum; event counts come from
 * the process where the event happened, so the stack reads their Sum.
 */
export const METRICS_NAMESPACE = "Dualrs";
export const DEPLOYMENT_DIMENSION = "Deployment";

/** Jobs queued or running, across the whole queue (gauge). */
export const QUEUE_BACKLOG = "QueueBacklog";
/** Seconds since the oldest queued job was accepted; 0 when none waits (gauge). */
export const OLDEST_QUEUED_AGE = "OldestQueuedJobAgeSeconds";
/** Jobs that turned failed since the publisher's last datapoint (count; the API processes publish it). */
export const JOBS_FAILED = "JobsFailed";
