import { problemResponse } from "../schemas/problem.js";

/** The error responses every authenticated route may give. */
export const commonErrors = {
  400: problemResponse("Bad request: malformed JSON, query or header; the field at fault is named"),
  401: problemResponse("Missing or invalid API key"),
  429: problemResponse("Rate limit exceeded; see Retry-After"),
  500: problemResponse("The server failed"),
  503: problemResponse("A service the server depends on (Redis) cannot be reached for now; see Retry-After"),
} as const;

export const security = [{ bearerAuth: [] }];
