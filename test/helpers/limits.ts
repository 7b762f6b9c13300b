/** Shared by the limit tests: validateLimits must refuse `input` with a SandboxError, which is returned. */
import { expect } from 'vitest';

import { SandboxError, validateLimits } from '../../src/runtime/index.js';

export function rejectsLimits(input: Parameters<typeof validateLimits>[0], host: Parameters<typeof validateLimits>[1]): SandboxError {
  try {
    validateLimits(input, host);
  } catch (err) {
    expect(err).toBeInstanceOf(SandboxError);
    return err as SandboxError;
  }
  throw new Error(`accepted ${JSON.stringify(input)}`);
}
