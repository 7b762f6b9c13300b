import { memo } from 'react';

import { SandboxError } from '../../runtime/errors.js';
import { boxLines, type Line, seg, wrapSegs, wrapText } from '../lines.js';
import { Lines } from './Lines.js';

export interface ErrorBannerProps {
  /** What went wrong: a SandboxError (actionable or not) or anything thrown. */
  error: unknown;
  /** Columns available. */
  width: number;
  /** Rows available; the details of a bug are cut first. */
  maxRows?: number;
  /** What was being done, e.g. "step 3 could not run". */
  context?: string;
}

/**
 * Whether the learner can fix it (message + what to try next) or it is a bug in sandbox (please
 * report). As formatError says: a SandboxError decides itself; anything else is a bug.
 */
export function isActionable(error: unknown): boolean {
  if (error instanceof SandboxError) return error.actionable;
  const e = error as { name?: string; actionable?: unknown } | null;
  return e?.name === 'SandboxError' && e.actionable === true;
}

/** The banner as lines (a box): yellow with the hint for actionable errors, red with details for bugs. */
export function errorBannerLines(props: Omit<ErrorBannerProps, 'maxRows'> & { maxRows?: number }): Line[] {
  const { error, width } = props;
  const inner = Math.max(10, width - 4);
  const e = (error ?? {}) as Partial<SandboxError> & { message?: string; stack?: string };
  const message = e.message ?? String(error);
  const body: Line[] = [];
  if (props.context) body.push(...wrapText(props.context, inner, { bold: true }));
  if (isActionable(error)) {
    body.push(...wrapText(message, inner));
    if (e.hint) {
      const hintLines = e.hint.split('\n');
      body.push(...wrapSegs([seg(hintLines[0])], inner, [seg('→ try: ', { color: 'yellow', bold: true })], [seg('       ')]));
      for (const l of hintLines.slice(1)) body.push(...wrapText(l, inner, {}, '       '));
    }
    return boxLines('⚠ Something to fix first', body, width, 'yellow').slice(0, props.maxRows ?? Infinity);
  }
  body.push(...wrapText(message, inner));
  body.push(...wrapText('This is a bug in sandbox, not something you did. Please report it with these details:', inner, { color: 'red' }));
  const details = [
    e.code && `code ${e.code}`,
    e.syscall && `syscall ${e.syscall}`,
    e.step && `step ${e.step}`,
    e.path && `path ${e.path}`,
  ].filter(Boolean);
  if (details.length) body.push(...wrapText(details.join(' · '), inner, { dim: true }));
  const stack = (e.stack ?? '').split('\n').slice(1, 4).map((l) => l.trim());
  for (const l of stack) body.push(...wrapText(l, inner, { dim: true }));
  const max = props.maxRows ?? Infinity;
  const boxed = boxLines('✗ Bug in sandbox', body, width, 'red');
  if (boxed.length <= max) return boxed;
  return boxLines('✗ Bug in sandbox', body.slice(0, Math.max(1, max - 2)), width, 'red');
}

/** One banner for every error the learner sees: what to try next, or "this is a bug, please report". */
export const ErrorBanner = memo(function ErrorBanner(props: ErrorBannerProps) {
  return <Lines lines={errorBannerLines(props)} width={props.width} />;
});
