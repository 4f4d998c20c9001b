import type { components, paths } from "./openapi.js";

/** The API's types, by their names in the OpenAPI document (`openapi/openapi.json`). */
type Schemas = components["schemas"];

export type Job = Schemas["Job"];
export type JobStatus = Schemas["JobStatus"];
export type JobPage = Schemas["JobPage"];
export type Certificate = Schemas["Certificate"];
export type StageReport = Schemas["StageReport"];
/** Set routing's report (docs/routing.md): the runner-ups' bounds and the stages certified for them. */
export type RoutingReport = Schemas["RoutingReport"];
export type RunnerUp = Schemas["RunnerUp"];
export type RunnerUpStage = Schemas["RunnerUpStage"];
export type Certifier = Schemas["Certifier"];
export type CertifyRequest = Schemas["CertifyRequest"];
export type CertifyParameters = Schemas["CertifyParameters"];
export type Input = Schemas["Input"];
export type Problem = Schemas["Problem"];
export type WebhookDelivery = Schemas["WebhookDelivery"];
export type WebhookSecret = Schemas["WebhookSecret"];

/** Query of `GET /certify`: page size, status filter and the cursor of the page to fetch. */
export type ListParams = NonNullable<paths["/certify"]["get"]["parameters"]["query"]>;

/** Webhook events a job can emit. */
export type JobEvent = WebhookDelivery["event"];
