/** The full-screen REPL (Ink): `sandbox repl` on a terminal. */
export { runReplScreen, canRunScreen, type ReplScreenOptions } from './run.js';
export { ReplScreen, SIDE_PANE_MIN_COLUMNS, type ReplScreenProps } from './ReplScreen.js';
export { ReplController, cleanText, type ControllerHost, type KeyPress, type LineKind, type TranscriptLine } from './controller.js';
export { Transcript, type TranscriptProps } from './Transcript.js';
export { PromptLine, type PromptLineProps } from './PromptLine.js';
export { StatusLine, type StatusLineProps } from './StatusLine.js';
export { SidePane, type SidePaneProps } from './SidePane.js';
export { SandboxTable, type SandboxTableProps } from './SandboxTable.js';
