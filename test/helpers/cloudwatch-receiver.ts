import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";

/** One PutMetricData request as CloudWatch receives it (AWS JSON 1.0 protocol). */
export interface PutMetricData {
  headers: IncomingHttpHeaders;
  body: {
    Namespace: string;
    MetricData: {
      MetricName: string;
      Dimensions: { Name: string; Value: string }[];
      /** Epoch seconds. */
      Timestamp: number;
      Value: number;
      Unit: string;
    }[];
  };
}

export interface CloudWatchReceiver {
  url: string;
  /** Requests answered 200, in order of arrival. */
  received: PutMetricData[];
  /** While true, every request is answered 500 with a CloudWatch error. */
  failing: boolean;
  /** Requests answered 500. */
  refused: number;
  close(): Promise<void>;
}

/** A real HTTP server on a loopback port that answers PutMetricData as CloudWatch does and keeps what it got. */
export async function startCloudWatchReceiver(): Promise<CloudWatchReceiver> {
  const receiver: CloudWatchReceiver = {
    url: "",
    received: [],
    failing: false,
    refused: 0,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      // The SDK compresses large PutMetricData bodies.
      const text = (req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw).toString("utf8");
      if (receiver.failing) {
        receiver.refused++;
        res.writeHead(500, { "content-type": "application/x-amz-json-1.0" });
        res.end(JSON.stringify({ __type: "InternalServiceError", message: "temporarily unavailable" }));
        return;
      }
      receiver.received.push({ headers: req.headers, body: JSON.parse(text) as PutMetricData["body"] });
      res.writeHead(200, { "content-type": "application/x-amz-json-1.0" });
      res.end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return receiver;
}

/** The value of `name` in one request, or undefined. */
export function metricValue(request: PutMetricData, name: string): number | undefined {
  return request.body.MetricData.find((d) => d.MetricName === name)?.Value;
}
