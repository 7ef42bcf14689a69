// STUB: to be replaced by the real validators of this family.
import type { KubeObject } from '../mesh/objects.js';
import type { ValidationContext } from './context.js';
import type { Findings } from './findings.js';

export function validateIngressBackend(_obj: KubeObject, _ctx: ValidationContext, _out: Findings): void {}

export function validateAccessControl(_obj: KubeObject, _ctx: ValidationContext, _out: Findings): void {}
