/** The REPL's logic, independent of the screen: parsing, completion, history, the session, script mode. */
export { tokenize, quoteWord, type Token, type Tokenized } from './tokenize.js';
export {
  COMMANDS,
  COMMAND_NAMES,
  NAMESPACE_FLAGS,
  SETTINGS,
  ROOTFS_VALUES,
  helpLines,
  commandHelpLines,
  didYouMean,
  isCommandName,
  type CommandName,
  type CommandSpec,
  type SettingName,
} from './commands.js';
export {
  parseLine,
  lineError,
  defaultParseContext,
  formatLimits,
  showWord,
  visible,
  DEFAULT_NAMESPACES,
  type Parsed,
  type ParseContext,
  type ReplCommand,
  type SandboxConfig,
  type LineError,
} from './parse.js';
export { complete, applyCompletion, type Completion, type Completed, type NameSets } from './complete.js';
export { History, loadHistory, saveHistory, openHistory, historyPath, HISTORY_FILE, HISTORY_MAX } from './history.js';
export {
  ReplSession,
  type ReplOutput,
  type RunContext,
  type RunResult,
  type SessionOptions,
  type SessionSample,
  type SandboxSample,
  type SandboxState,
  type TerminalHandover,
} from './session.js';
export { runScript, PROMPT, type ScriptOptions, type ScriptResult } from './script.js';
export { openTerminal, takeTerminalBack, foregroundGroup, withTerminal } from './terminal.js';
