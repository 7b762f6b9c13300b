/**
 * Splits a REPL line into words the way a shell does, so that `exec a sh -c 'echo $$'` means what
 * it would mean at a shell prompt: 'single quotes' are literal, "double quotes" honour \" \\ \$ \`,
 * a backslash outside quotes escapes the next character, and an unquoted # at the start of a word
 * begins a comment. There is no expansion of any kind: $$ stays $$ for the shell inside.
 */

export interface Token {
  /** The word after quote removal. */
  value: string;
  /** Offsets of the raw word in the line (quotes included). */
  start: number;
  end: number;
  /** Any part of it was quoted or escaped (so `'--pid'` is a word, not a flag). */
  quoted: boolean;
}

export interface Tokenized {
  tokens: Token[];
  /** What is wrong with the line, if it cannot be split. */
  error?: string;
  /** The quote still open at the end of the line (for completion inside a quoted word). */
  openQuote?: "'" | '"';
  /** The line ends in whitespace (or is empty): the cursor starts a new word. */
  endsInSpace: boolean;
}

const SPACE = /[ \t\r\n\f\v]/;

export function tokenize(line: string): Tokenized {
  const tokens: Token[] = [];
  if (line.includes('\0')) return { tokens, error: 'the line contains a NUL character', endsInSpace: false };
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && SPACE.test(line[i])) i++;
    if (i >= n) break;
    if (line[i] === '#') return { tokens, endsInSpace: true };
    const start = i;
    let value = '';
    let quoted = false;
    while (i < n && !SPACE.test(line[i])) {
      const c = line[i];
      if (c === "'") {
        quoted = true;
        const close = line.indexOf("'", i + 1);
        if (close < 0) {
          value += line.slice(i + 1);
          tokens.push({ value, start, end: n, quoted });
          return { tokens, error: "unterminated quote (')", openQuote: "'", endsInSpace: false };
        }
        value += line.slice(i + 1, close);
        i = close + 1;
      } else if (c === '"') {
        quoted = true;
        i++;
        let closed = false;
        while (i < n) {
          const d = line[i];
          if (d === '"') {
            closed = true;
            i++;
            break;
          }
          if (d === '\\' && i + 1 < n && '"\\$`\n'.includes(line[i + 1])) {
            value += line[i + 1];
            i += 2;
            continue;
          }
          value += d;
          i++;
        }
        if (!closed) {
          tokens.push({ value, start, end: n, quoted });
          return { tokens, error: 'unterminated quote (")', openQuote: '"', endsInSpace: false };
        }
      } else if (c === '\\') {
        quoted = true;
        if (i + 1 >= n) {
          tokens.push({ value, start, end: n, quoted });
          return { tokens, error: 'the line ends with a backslash (there is nothing to escape)', endsInSpace: false };
        }
        value += line[i + 1];
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    tokens.push({ value, start, end: i, quoted });
  }
  return { tokens, endsInSpace: n === 0 || SPACE.test(line[n - 1]) };
}

/** Quotes a word for display so that tokenize() would read it back unchanged. */
export function quoteWord(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
