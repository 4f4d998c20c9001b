import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as ecr from "aws-cdk-lib/aws-ecr";
import { Platform } from "aws-cdk-lib/aws-ecr-assets";
import * as ecs from "aws-cdk-lib/aws-ecs";
import type { Construct } from "constructs";

/** The repository root, where the Dockerfile is. */
export const REPOSITORY_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * The one image of the API and the workers: its GPU target (CUDA and the CUDA execution provider;
 * it runs on CPU too). Built from the repository and pushed to the CDK's ECR repository by
 * `cdk deploy`, or a prebuilt `repository:tag` from this account's ECR.
 */
export function serviceImage(scope: Construct, image: string | undefined): ecs.ContainerImage {
  if (image === undefined) {
    return ecs.ContainerImage.fromAsset(REPOSITORY_ROOT, { target: "gpu", platform: Platform.LINUX_AMD64 });
  }
  const [name = "", tag = "latest"] = image.split(":");
  return ecs.ContainerImage.fromEcrRepository(
    ecr.Repository.fromRepositoryName(scope, "ImageRepository", name),
    tag,
  );
}
