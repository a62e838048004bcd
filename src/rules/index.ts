/** Routing rules: schemas, evaluation, extractors, presets and payloads (pure logic, no I/O). */

export {
  ADDRESS_FIELDS,
  BOOLEAN_FIELDS,
  CONDITION_FIELDS,
  type ConditionField,
  MAX_GROUP_DEPTH,
  OPERATORS,
  type Operator,
} from './condition-model.js';
export {
  type ConditionTrace,
  type Extracted,
  evaluateCondition,
  evaluateGroup,
  type GroupTrace,
  traceGroup,
} from './conditions.js';
export { isReplyOrForward, senderAllowed, stripReplyPrefixes, subjectGroupKey } from './dedupe.js';
export {
  type Decision,
  type Evaluation,
  type EvaluationContext,
  evaluateRules,
  type RuleTrace,
} from './evaluate.js';
export {
  type DeliveryLink,
  deliveryTime,
  findShareLinks,
  isUrgent,
  LINK_PROVIDERS,
  type LinkProvider,
  normaliseDropboxUrl,
  normaliseForMatch,
  stripAccents,
} from './extractors.js';
export {
  type Action,
  actionSchema,
  type Condition,
  defaultRuleSettings,
  type Group,
  type Rule,
  type RuleInput,
  type RulePatch,
  type RuleSettings,
  ruleInputSchema,
  rulePatchSchema,
  ruleSettingsSchema,
} from './model.js';
export {
  type CompatInput,
  compatPayload,
  type EmailSource,
  type WindowDecision,
  type WindowInput,
  windowDecision,
} from './payload.js';
export {
  type Detection,
  type DetectionResult,
  detectDesabo,
  detectPreset,
  detectRecadrage,
  isRecadrageSubject,
  PRESET_DETECTORS,
  type PresetName,
} from './presets.js';
export { regexProblem, regexTest } from './regex.js';
export { type RuleRouteDeps, registerRuleRoutes } from './routes.js';
export { RULES_CHANNEL, type RuleSet, RuleStore } from './store.js';
export { renderTemplate, templateProblem } from './template.js';
