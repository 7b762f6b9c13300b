import { memo } from 'react';

import type { Prediction as PredictionData } from '../../lessons/types.js';
import { type Line, seg, wrapSegs, inlineCode, proseLines } from '../lines.js';
import { Lines } from './Lines.js';

export interface PredictionProps {
  /** The question, its choices, the right answer and why. */
  prediction: PredictionData;
  /** The choice under the cursor while asking. */
  cursor: number;
  /** The learner's answer, once given (then the choices are not selectable). */
  choice: number | null;
  /** Show whether the answer was right and the explanation (after the action ran). */
  reveal: boolean;
  /** Columns available. */
  width: number;
}

/**
 * The prediction as lines. Asking: the question and numbered choices, the one under the cursor
 * marked ›. Answered: what was predicted. Revealed: right or what the kernel did, and why.
 */
export function predictionLines(p: PredictionProps): Line[] {
  const { prediction, width } = p;
  const out: Line[] = [];
  if (p.choice === null) {
    out.push(...wrapSegs(inlineCode(prediction.question, { bold: true }), width, [seg('? ', { color: 'magenta', bold: true })], [seg('  ')]));
    prediction.choices.forEach((c, i) => {
      const on = i === p.cursor;
      const mark = on ? seg(' › ', { color: 'magenta', bold: true }) : seg('   ');
      out.push(...wrapSegs(inlineCode(c, { bold: on, inverse: false }), width, [mark, seg(`${i + 1}) `, { bold: true, color: on ? 'magenta' : undefined })], [seg('      ')]));
    });
    return out;
  }
  const chosen = prediction.choices[p.choice] ?? '?';
  if (!p.reveal) {
    out.push(...wrapSegs(inlineCode(chosen), width, [seg('You predicted: ', { color: 'magenta', bold: true })], [seg('  ')]));
    return out;
  }
  const right = p.choice === prediction.answer;
  out.push(
    ...wrapSegs(
      [
        ...inlineCode(chosen),
        right ? seg('  ✓ right', { color: 'green', bold: true }) : seg(`  ✗ the kernel did: ${prediction.choices[prediction.answer]}`, { color: 'yellow', bold: true }),
      ],
      width,
      [seg('You predicted: ', { color: 'magenta', bold: true })],
      [seg('  ')],
    ),
  );
  out.push(...proseLines(prediction.explanation, width));
  return out;
}

/** The prediction the learner makes before the action runs, and afterwards whether it was right and why. */
export const Prediction = memo(function Prediction(props: PredictionProps) {
  return <Lines lines={predictionLines(props)} width={props.width} />;
});
