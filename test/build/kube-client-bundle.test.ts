import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/objects.js";

/**
 * The build replaces dist/kube/client-node.js with one bundled module (scripts/bundle-kube-client.mjs)
 * so that `serve --kubeconfig` does not load @kubernetes/client-node's ~900 files. This runs the
 * built module in a fresh Node and records every file Node loads for it. Needs dist/ (`npm test`
 * builds first) and Node's synchronous module hooks (Node 22.15+; npm scripts run Node 24).
 */

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
  - name: c
    cluster: { server: "https://10.0.0.1:6443", insecure-skip-tls-verify: true }
users:
  - name: u
    user: { token: bundle-token }
contexts:
  - name: ctx
    context: { cluster: c, user: u }
current-context: ctx
`;

const CHILD = `
import { registerHooks } from "node:module";
const loaded = [];
registerHooks({
  load(url, context, next) {
    loaded.push(url);
    return next(url, context);
  },
});
const { KubeConfig } = await import(process.env.BUNDLE_URL);
const kubeConfig = new KubeConfig();
kubeConfig.loadFromString(process.env.KUBECONFIG_TEXT);
const options = {};
await kubeConfig.applyToHTTPSOptions(options);
process.stdout.write(JSON.stringify({
  loaded,
  server: kubeConfig.getCurrentCluster()?.server,
  authorization: options.headers?.Authorization ?? options.headers?.authorization,
}));
`;

interface ChildAnswer {
  readonly loaded: string[];
  readonly server: string;
  readonly authorization: string;
}

async function runBundle(): Promise<{ answer: ChildAnswer; stderr: string; code: number | null }> {
  const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD], {
    env: {
      ...process.env,
      NODE_OPTIONS: "",
      BUNDLE_URL: pathToFileURL(join(repoRoot, "dist/kube/client-node.js")).href,
      KUBECONFIG_TEXT: KUBECONFIG,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const [code] = (await once(child, "close")) as [number | null];
  if (code !== 0) throw new Error(`the bundle failed to load (exit ${code}): ${stderr}`);
  return { answer: JSON.parse(stdout) as ChildAnswer, stderr, code };
}

describe("the built Kubernetes client (dist/kube/client-node.js)", () => {
  it("is one module: none of @kubernetes/client-node's own files is loaded", async () => {
    const { answer } = await runBundle();
    const fromPackage = answer.loaded.filter((url) => url.includes("/@kubernetes/client-node/"));
    expect(fromPackage).toEqual([]);
    // What it still loads from node_modules: node-fetch, kept external on purpose.
    const packages = new Set(
      answer.loaded
        .map((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1])
        .filter((name): name is string => name !== undefined),
    );
    expect([...packages].sort()).toEqual([
      "node-fetch",
      "tr46",
      "webidl-conversions",
      "whatwg-url",
    ]);
  });

  it("still reads a kubeconfig and applies its token, and warns about nothing", async () => {
    const { answer, stderr } = await runBundle();
    expect(answer.server).toBe("https://10.0.0.1:6443");
    expect(answer.authorization).toBe("Bearer bundle-token");
    // Bundled, whatwg-url's require("punycode") would warn (DEP0040) on every start.
    expect(stderr).toBe("");
  });
});
