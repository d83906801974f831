#!/usr/bin/env node
// Replaces dist/kube/client-node.js, which tsc emits as a re-export of @kubernetes/client-node,
// with one bundled module of the same code (see src/kube/client-node.ts for why).
//
// - Tree shaking leaves out the generated API models that KubeConfig never reaches.
// - node-fetch stays external: it is CommonJS, small, and its whatwg-url requires Node's
//   deprecated `punycode`, which warns at run time unless loaded from node_modules.
// - The banner gives bundled CommonJS dependencies a `require` for Node's built-ins.
import { rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const file = fileURLToPath(new URL("../dist/kube/client-node.js", import.meta.url));

await build({
  entryPoints: [file],
  outfile: file,
  allowOverwrite: true,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["node-fetch"],
  banner: {
    js: 'import { createRequire as stsguardCreateRequire } from "node:module";\nconst require = stsguardCreateRequire(import.meta.url);',
  },
  legalComments: "eof",
  logLevel: "warning",
});

// tsc's source map describes the re-export this bundle replaced.
await rm(`${file}.map`, { force: true });
