// STUB: to be replaced by the real validators of this family.
import type { KubeObject } from '../mesh/objects.js';
import type { ValidationContext } from './context.js';
import type { Findings } from './findings.js';

export function validateGlobalTrafficPolicy(_obj: KubeObject, _ctx: ValidationContext, _out: Findings): void {}

export function validateServiceExport(_obj: KubeObject, _ctx: ValidationContext, _out: Findings): void {}

export function validateServiceImport(_obj: KubeObject, _ctx: ValidationContext, _out: Findings): void {}

export function validateCluster(_obj: KubeObject, _ctx: ValidationContext, _out: Findings): void {}
