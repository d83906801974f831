/**
 * What stsguard takes from @kubernetes/client-node, and the only module that imports it.
 *
 * The build bundles this file with its dependencies into one module
 * (scripts/bundle-kube-client.mjs): the package loads ~900 files, nearly all of them its
 * generated API, which `KubeConfig` reaches through one import but never uses. Loaded file by
 * file that costs ~0.7–0.9 s and ~50 MiB RSS before `serve` can list anything; the bundle
 * keeps the same code and leaves the unused models out. Tests that import src/ get the
 * package itself.
 */
export { KubeConfig } from "@kubernetes/client-node";
export type { Cluster, Context, User } from "@kubernetes/client-node";
