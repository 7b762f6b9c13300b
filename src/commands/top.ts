/** `sandbox top`: being built (issue 4). */
export async function topCommand(_opts: { plain?: boolean }): Promise<number> {
  process.stderr.write('error: sandbox top is not available yet\nhint: sandbox doctor and sandbox run --explain show what exists\n');
  return 1;
}
