import { memo } from 'react';

import { answerText, expectedText, formatNumber, isNumeric, type Measured, scoreAnswer, withUnit } from '../../lessons/prediction.js';
import type { Prediction as PredictionData } from '../../lessons/types.js';
import { type Line, seg, wrapSegs, inlineCode, proseLines } from '../lines.js';
import { Lines } from './Lines.js';

export interface PredictionProps {
  /** The question, its choices (or its number's unit and bounds), the right answer and why. */
  prediction: PredictionData;
  /** The choice under the cursor while asking. */
  cursor: number;
  /** The learner's answer, once given: the choice's index, or the number typed (then nothing is selectable). */
  choice: number | null;
  /** Show whether the answer was right and the explanation (after the action ran). */
  reveal: boolean;
  /** Columns available. */
  width: number;
  /** A numeric prediction being typed: the text so far and why the last enter was refused. */
  typed?: { text: string; error: string | null };
  /** A numeric prediction's measurement, read after the action: shown at the reveal with its probe. */
  measured?: Measured | null;
}

const label = (text: string) => [seg(text, { color: 'magenta', bold: true })];

/** The question being asked: choices under a cursor, or an input field for a number. */
function askingLines(p: PredictionProps): Line[] {
  const { prediction, width } = p;
  const out: Line[] = [...wrapSegs(inlineCode(prediction.question, { bold: true }), width, [seg('? ', { color: 'magenta', bold: true })], [seg('  ')])];
  if (isNumeric(prediction)) {
    const n = prediction.number;
    const typed = p.typed ?? { text: '', error: null };
    out.push([seg(' › ', { color: 'magenta', bold: true }), seg(typed.text, { bold: true }), seg(' ', { inverse: true }), seg(` ${n.unit}`)]);
    if (typed.error) out.push(...wrapSegs([seg(typed.error, { color: 'yellow' })], width, [seg('   ')]));
    else out.push(...wrapSegs([seg(`a number from ${formatNumber(n.min)} to ${withUnit(n.max, n.unit)}; enter to predict`, { dim: true })], width, [seg('   ')]));
    return out;
  }
  prediction.choices.forEach((c, i) => {
    const on = i === p.cursor;
    const mark = on ? seg(' › ', { color: 'magenta', bold: true }) : seg('   ');
    out.push(...wrapSegs(inlineCode(c, { bold: on, inverse: false }), width, [mark, seg(`${i + 1}) `, { bold: true, color: on ? 'magenta' : undefined })], [seg('      ')]));
  });
  return out;
}

/**
 * The prediction as lines. Asking: the question and numbered choices, the one under the cursor
 * marked ›, or an input field for a number. Answered: what was predicted. Revealed: right, close
 * (a number within 3× its tolerance) or what the kernel did; for a number, the expected figure
 * and what was measured (with its probe); and why.
 */
export function predictionLines(p: PredictionProps): Line[] {
  const { prediction, width } = p;
  if (p.choice === null) return askingLines(p);
  const out: Line[] = [];
  const chosen = answerText(prediction, p.choice);
  if (!p.reveal) {
    out.push(...wrapSegs(inlineCode(chosen), width, label('You predicted: '), [seg('  ')]));
    return out;
  }
  const score = scoreAnswer(prediction, p.choice);
  if (!isNumeric(prediction)) {
    const verdict = score === 'right' ? seg('  ✓ right', { color: 'green', bold: true }) : seg(`  ✗ the kernel did: ${expectedText(prediction)}`, { color: 'yellow', bold: true });
    out.push(...wrapSegs([...inlineCode(chosen), verdict], width, label('You predicted: '), [seg('  ')]));
    out.push(...proseLines(prediction.explanation, width));
    return out;
  }
  const verdict =
    score === 'right'
      ? seg('  ✓ right', { color: 'green', bold: true })
      : score === 'close'
        ? seg('  ≈ close', { color: 'yellow', bold: true })
        : seg('  ✗ off', { color: 'yellow', bold: true });
  out.push(...wrapSegs([seg(chosen), verdict], width, label('You predicted: '), [seg('  ')]));
  out.push(...wrapSegs([seg(expectedText(prediction), { bold: true })], width, [seg('Expected:      ')], [seg('  ')]));
  const m = p.measured;
  if (m && 'error' in m) out.push(...wrapSegs([seg(`could not be read: ${m.error}`, { color: 'yellow' })], width, [seg('Measured:      ')], [seg('  ')]));
  else if (m) out.push(...wrapSegs([seg(withUnit(m.value, prediction.number.unit), { bold: true }), seg('  by '), ...inlineCode(`\`${m.probe}\``)], width, [seg('Measured:      ')], [seg('  ')]));
  out.push(...proseLines(prediction.explanation, width));
  return out;
}

/** The prediction the learner makes before the action runs, and afterwards whether it was right and why. */
export const Prediction = memo(function Prediction(props: PredictionProps) {
  return <Lines lines={predictionLines(props)} width={props.width} />;
});
