/** The terminal UI's components: one per file, each drawing plain lesson data (lessons/types.ts). */
export { ActionLog, actionLogLines, scrollLines, type ActionLogProps } from './ActionLog.js';
export {
  ChallengeStatus,
  challengeCheckHeights,
  challengeCheckLines,
  challengeGoalLines,
  challengeStatusLines,
  challengeVarsLines,
  type ChallengeStatusProps,
} from './ChallengePanel.js';
export { CheckPanel, checkPanelLines, checkPanelHeights, type CheckPanelProps } from './CheckPanel.js';
export { ErrorBanner, errorBannerLines, isActionable, type ErrorBannerProps } from './ErrorBanner.js';
export { Gauges, gaugesLines, gaugeColor, type GaugesProps } from './Gauges.js';
export { Header, headerLines, type HeaderProps, type StepMark } from './Header.js';
export { KeyHelp, keyHelpLine, type KeyHelpProps, type KeyItem } from './KeyHelp.js';
export { LessonList, lessonListLines, type LessonListProps, type ListItem } from './LessonList.js';
export { LineChart, chartLines, type LineChartProps } from './LineChart.js';
export { Lines, type LinesProps } from './Lines.js';
export { LiveView, liveViewLines, viewBodyLines, titledRule, type LiveViewProps } from './LiveView.js';
export { PidTable, tableLines, type PidTableProps } from './PidTable.js';
export { Prediction, predictionLines, type PredictionProps } from './Prediction.js';
export { ProcessTree, processTreeLines, namespaceTags, type ProcessTreeProps } from './ProcessTree.js';
export { Prose, type ProseProps } from './Prose.js';
export { Spinner, type SpinnerProps } from './Spinner.js';
export { TooSmall, tooSmallLines, type TooSmallProps } from './TooSmall.js';
