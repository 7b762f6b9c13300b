/** `sandbox repl`: being built (issue 6). */
export async function replCommand(_opts: { plain?: boolean }): Promise<number> {
  process.stderr.write('error: sandbox repl is not available yet\nhint: use sandbox run, or sandbox learn for guided lessons\n');
  return 1;
}
