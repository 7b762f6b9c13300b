/**
 * One colour and one letter per PID namespace, stable for the life of a screen: a namespace keeps
 * its colour when others appear or end (the view's own legend index shifts as they do).
 */
const COLORS = ['cyan', 'magenta', 'yellow', 'green', 'blueBright', 'red', 'cyanBright', 'magentaBright', 'yellowBright', 'greenBright', 'blue', 'redBright'];

export interface NsStyle {
  color: string;
  letter: string;
}

export class NsPalette {
  private readonly byInode = new Map<number, number>();

  /** The style of PID namespace `inode`, assigned on first sight. */
  style(inode: number): NsStyle {
    let i = this.byInode.get(inode);
    if (i === undefined) {
      i = this.byInode.size;
      this.byInode.set(inode, i);
    }
    return { color: COLORS[i % COLORS.length], letter: letterOf(i) };
  }
}

/** a, b, … z, then aa, ab… */
export function letterOf(i: number): string {
  return i < 26 ? String.fromCharCode(97 + i) : letterOf(Math.floor(i / 26) - 1) + letterOf(i % 26);
}
