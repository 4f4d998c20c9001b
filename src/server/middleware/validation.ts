import type { Context } from "hono";
import type { ZodError } from "zod";
import type { AppEnv } from "../env.js";
import { type FieldError, listed, type Problem, ProblemError, problemTypes } from "./problem.js";

type Path = readonly PropertyKey[];

/** `parameters.n`, `input.shape[0]`; the whole body is `(body)`. */
export function fieldName(path: Path): string {
  if (path.length === 0) return "(body)";
  return path
    .map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`))
    .join("");
}

/** RFC 6901 pointer into the request part, as a URI fragment: `#/parameters/n`. */
export function pointer(path: Path): string {
  return `#${path.map((k) => `/${String(k).replaceAll("~", "~0").replaceAll("/", "~1")}`).join("")}`;
}

export function fieldError(path: Path, detail: string): FieldError {
  return { pointer: pointer(path), field: fieldName(path), detail };
}

/** A 422 naming the field at fault, for a body that parsed but does not fit. */
export function validationProblem(errors: FieldError[], extra: Partial<Problem> = {}): ProblemError {
  const first = errors[0];
  return new ProblemError({
    type: problemTypes.validation,
    title: "Unprocessable Content",
    status: 422,
    detail: first ? `${first.field}: ${first.detail}` : "the request does not validate",
    ...(first ? { field: first.field } : {}),
    errors,
    ...extra,
  });
}

/** zod's message, but for unknown keys, which it lists all of: the first few, the rest counted. */
function issueDetail(issue: ZodError["issues"][number]): string {
  if (issue.code !== "unrecognized_keys") return issue.message;
  const keys = issue.keys.map((k) => JSON.stringify(k.length > 64 ? `${k.slice(0, 64)}...` : k));
  return `unrecognized ${keys.length === 1 ? "key" : "keys"}: ${listed(keys)}`;
}

function isNotFound(issue: ZodError["issues"][number]): boolean {
  return issue.code === "custom" && issue.params?.notFound === true;
}

/**
 * zod-openapi's hook for every validated request part. A body that does not fit its schema is a
 * 422; a bad query, path parameter or header is a 400, except a path parameter that names nothing
 * this service could have made, a 404. Each names the field at fault.
 */
export function validationHook(
  result:
    | { target: string; success: true; data: unknown }
    | { target: string; success: false; error: ZodError },
  _c: Context<AppEnv>,
): undefined {
  if (result.success) return undefined;
  // Every issue, so that the problem can count them; problemResponse lists only the first few.
  const errors = result.error.issues.map((i) => fieldError(i.path, issueDetail(i)));
  if (result.target === "json") throw validationProblem(errors);
  const first = errors[0];
  const where = result.target === "param" ? "path parameter" : result.target;
  // A path parameter that cannot name anything (a refinement marks it) is as unknown as a name
  // that was never issued.
  const unknown = result.target === "param" && result.error.issues.some(isNotFound);
  if (unknown && first) {
    throw new ProblemError({
      type: problemTypes.notFound,
      title: "Not Found",
      status: 404,
      detail: `${where} ${first.field}: ${first.detail}`,
      field: first.field,
    });
  }
  throw new ProblemError({
    type: problemTypes.badRequest,
    title: "Bad Request",
    status: 400,
    detail: first ? `${where} ${first.field}: ${first.detail}` : `invalid ${where}`,
    ...(first ? { field: first.field } : {}),
    errors,
  });
}
