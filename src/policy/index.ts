/** The policy engine: pure functions from raw Kubernetes JSON to findings and fixed objects. */
export { evaluateService, evaluateStatefulSetChange, formatFinding } from "./evaluate.js";
export type { ServiceContext } from "./evaluate.js";
export { evaluateGoverningService, needsGoverningService } from "./governing-service.js";
export {
  describeOrdinalRange,
  hasOrdinal,
  isExternallyAccessible,
  isStatefulSet,
  readPodNameSelector,
  summarizePerPodService,
  summarizeService,
  summarizeStatefulSet,
  withReplicas,
} from "./objects.js";
export { parsePodTarget, toPodName } from "./pod-target.js";
export { requiredLabels } from "./service-rules.js";
export * from "./types.js";
