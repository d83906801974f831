import { readFile } from "node:fs/promises";
import { isJsonMap } from "../policy/raw-object.js";

/** Home of the project; SARIF viewers link rules to `${PROJECT_URL}/blob/main/docs/rules.md#<rule>`. */
export const PROJECT_URL = "https://github.com/stsguard/stsguard";
export const RULES_DOC_URL = `${PROJECT_URL}/blob/main/docs/rules.md`;

export interface ToolInfo {
  readonly name: string;
  readonly version: string;
}

/**
 * The name and version of the package this module ships in. src/cli/ and dist/cli/ are both
 * two levels below package.json, so one relative URL works from sources and from the build.
 */
export async function readToolInfo(): Promise<ToolInfo> {
  try {
    const text = await readFile(new URL("../../package.json", import.meta.url), "utf8");
    const manifest: unknown = JSON.parse(text);
    const version = isJsonMap(manifest) ? manifest["version"] : undefined;
    return { name: "stsguard", version: typeof version === "string" ? version : "0.0.0" };
  } catch {
    // A missing package.json (a bundled build) must not break a check over a version string.
    return { name: "stsguard", version: "0.0.0" };
  }
}
