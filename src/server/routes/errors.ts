import { problemResponseSpec } from "../schemas/problem.js";

/** The error responses every authenticated route may give. */
export const commonErrors = {
  400: problemResponseSpec("Bad request: malformed JSON, query or header; the field at fault is named"),
  401: problemResponseSpec("Missing or invalid API key"),
  429: problemResponseSpec("Rate limit exceeded; see Retry-After"),
  500: problemResponseSpec("The server failed"),
  503: problemResponseSpec(
    "A service the server depends on (Redis) cannot be reached for now; see Retry-After",
  ),
} as const;

export const security = [{ bearerAuth: [] }];
